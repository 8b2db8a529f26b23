// The octets of an IKESARecord (IKESARecord.swift), version 1. Big-endian integers; every
// variable part carries its length; optional parts a presence octet (0/1).
//
//     "VSAR" | version u8 | connection (u8 length, UTF-8) | flags u8 | SPIi u64 | SPIr u64
//     local endpoint | remote endpoint | IDi/IDr ours | the peer's | PRF u16
//     ENCR u16 | key length bits u16 (0: none) | INTEG u16 | SK_d SK_ai SK_ar SK_ei SK_er (u16 length each)
//     next request MID u32 | expected request MID u32 | [last response] | [outstanding liveness]
//     rekey generation u32 | established f64 | [rekey due f64] | [expiry f64] | [next liveness f64]
//     CHILD_SA count u16 | CHILD_SAs
//
// flags: 0x01 original initiator, 0x02 fragmentation, 0x04 peer supports REDIRECT,
// 0x08 NAT detection done, 0x10 peer behind a NAT, 0x20 we are behind a NAT.
//
// The encoding is measured first and then written straight into `SecretBytes`, and the
// decoder reads keys straight out of the caller's octets into `SecretBytes`: no key passes
// through an ordinary array. Reading checks every length against what remains and every
// value against what this build can use, and names the field it refuses.

extension IKESARecord {
    static let magic: [UInt8] = Array("VSAR".utf8)
    /// Bounds that keep a garbled length from asking for absurd allocations.
    static let maximumChildSAs = 4096
    static let maximumDatagrams = 16
    static let maximumSelectors = 64

    /// The record as octets (they hold keys: seal them before they leave the process).
    public func encoded() -> SecretBytes {
        var counter = CountingSink()
        write(to: &counter)
        return SecretBytes(count: counter.count) { raw in
            var sink = FillingSink(base: raw)
            write(to: &sink)
        }
    }

    /// Reads a record. Throws `IKESARecordError` naming the field for anything short,
    /// garbled or unsupported; never traps.
    public init(decoding octets: some ContiguousOctets) throws {
        self = try octets.withUnsafeBytes { raw in
            var reader = RecordReader(bytes: raw)
            let record = try IKESARecord.read(from: &reader)
            guard reader.remaining == 0 else { throw IKESARecordError.trailingOctets(reader.remaining) }
            return record
        }
    }

    // MARK: Writing

    func write<S: RecordSink>(to sink: inout S) {
        sink.put(Self.magic)
        sink.u8(Self.currentVersion)
        sink.string(connection)
        var flags: UInt8 = 0
        if isOriginalInitiator { flags |= 0x01 }
        if fragmentationNegotiated { flags |= 0x02 }
        if peerSupportsRedirect { flags |= 0x04 }
        if let nat = natDetection {
            flags |= 0x08
            if nat.remoteBehindNAT { flags |= 0x10 }
            if nat.localBehindNAT { flags |= 0x20 }
        }
        sink.u8(flags)
        sink.u64(initiatorSPI)
        sink.u64(responderSPI)
        sink.endpoint(local)
        sink.endpoint(remote)
        sink.identity(localIdentity)
        sink.identity(peerIdentity)
        sink.u16(prf.rawValue)
        sink.u16(suite.encryption.rawValue)
        sink.u16(UInt16(suite.keyLengthBits ?? 0))
        sink.u16(suite.integrity.rawValue)
        for key in [skD, skAi, skAr, skEi, skEr] { sink.secret(key) }
        sink.u32(messageIDs.nextRequest)
        sink.u32(messageIDs.expectedRequest)
        sink.present(messageIDs.lastResponse) { sink, cached in
            sink.u32(cached.messageID)
            sink.bytes16(cached.requestDigest)
            sink.datagrams(cached.datagrams)
        }
        sink.present(messageIDs.outstandingLiveness) { sink, datagrams in sink.datagrams(datagrams) }
        sink.u32(rekeyGeneration)
        sink.double(times.established)
        for time in [times.rekeyDue, times.expiry, times.nextLiveness] {
            sink.present(time) { sink, value in sink.double(value) }
        }
        sink.u16(UInt16(childSAs.count))
        for child in childSAs { sink.childSA(child) }
    }

    // MARK: Reading

    static func read(from reader: inout RecordReader) throws -> IKESARecord {
        guard try reader.take(4, "magic").elementsEqual(magic) else { throw IKESARecordError.notARecord }
        let version = try reader.u8("version")
        guard version == currentVersion else { throw IKESARecordError.unsupportedVersion(version) }
        let connection = try reader.string("connection")
        let flags = try reader.u8("flags")
        guard flags & 0xc0 == 0 else { throw IKESARecordError.invalidValue(field: "flags", reason: "unknown bits set") }
        let initiatorSPI = try reader.u64("initiator SPI")
        let responderSPI = try reader.u64("responder SPI")
        guard initiatorSPI != 0, responderSPI != 0 else {
            throw IKESARecordError.invalidValue(field: "IKE SPIs", reason: "zero (not an established IKE_SA)")
        }
        let local = try reader.endpoint("local endpoint")
        let remote = try reader.endpoint("remote endpoint")
        let localIdentity = try reader.identity("local identity")
        let peerIdentity = try reader.identity("peer identity")
        let prf = PseudorandomFunctionID(rawValue: try reader.u16("PRF"))
        guard let prfKeyLength = prf.preferredKeyLength else {
            throw IKESARecordError.invalidValue(field: "PRF", reason: "transform \(prf.rawValue) not supported")
        }
        let suite = try reader.suite("IKE ENCR/INTEG")
        let skD = try reader.secret("SK_d", length: prfKeyLength)
        let integrityLength = suite.integrityKeyLength ?? 0
        let encryptionLength = suite.encryptionKeyLength ?? 0
        let skAi = try reader.secret("SK_ai", length: integrityLength)
        let skAr = try reader.secret("SK_ar", length: integrityLength)
        let skEi = try reader.secret("SK_ei", length: encryptionLength)
        let skEr = try reader.secret("SK_er", length: encryptionLength)
        let nextRequest = try reader.u32("next request message ID")
        let expectedRequest = try reader.u32("expected request message ID")
        let lastResponse = try reader.optional("last response") { reader in
            CachedResponse(messageID: try reader.u32("last response message ID"),
                           requestDigest: try reader.bytes16("last response request digest"),
                           datagrams: try reader.datagrams("last response datagrams"))
        }
        if let lastResponse, lastResponse.messageID &+ 1 != expectedRequest {
            throw IKESARecordError.invalidValue(field: "last response message ID",
                                                reason: "\(lastResponse.messageID) does not precede expected \(expectedRequest)")
        }
        let outstanding = try reader.optional("outstanding liveness") { try $0.datagrams("outstanding liveness datagrams") }
        if let first = outstanding?.first, first[20..<24].reduce(UInt32(0), { $0 << 8 | UInt32($1) }) != nextRequest {
            throw IKESARecordError.invalidValue(field: "outstanding liveness datagrams", reason: "message ID is not the next request's")
        }
        let rekeyGeneration = try reader.u32("rekey generation")
        let established = try reader.double("established time")
        let rekeyDue = try reader.optional("rekey time") { try $0.double("rekey time") }
        let expiry = try reader.optional("expiry time") { try $0.double("expiry time") }
        let nextLiveness = try reader.optional("liveness time") { try $0.double("liveness time") }
        let childCount = Int(try reader.u16("CHILD_SA count"))
        guard childCount <= maximumChildSAs else {
            throw IKESARecordError.invalidValue(field: "CHILD_SA count", reason: "\(childCount) exceeds \(maximumChildSAs)")
        }
        var childSAs: [ChildSAInstallation] = []
        for index in 0..<childCount { childSAs.append(try reader.childSA("CHILD_SA \(index)")) }
        return IKESARecord(
            connection: connection, isOriginalInitiator: flags & 0x01 != 0, initiatorSPI: initiatorSPI, responderSPI: responderSPI,
            local: local, remote: remote,
            natDetection: flags & 0x08 == 0 ? nil : NATDetectionResult(remoteBehindNAT: flags & 0x10 != 0, localBehindNAT: flags & 0x20 != 0),
            fragmentationNegotiated: flags & 0x02 != 0, peerSupportsRedirect: flags & 0x04 != 0,
            localIdentity: localIdentity, peerIdentity: peerIdentity, prf: prf, suite: suite,
            skD: skD, skAi: skAi, skAr: skAr, skEi: skEi, skEr: skEr,
            messageIDs: MessageIDs(nextRequest: nextRequest, expectedRequest: expectedRequest, lastResponse: lastResponse,
                                   outstandingLiveness: outstanding),
            rekeyGeneration: rekeyGeneration,
            times: Times(established: established, rekeyDue: rekeyDue, expiry: expiry, nextLiveness: nextLiveness),
            childSAs: childSAs)
    }
}

// MARK: - Sinks: measuring, then writing into secret storage

protocol RecordSink {
    mutating func put(_ raw: UnsafeRawBufferPointer)
}

struct CountingSink: RecordSink {
    var count = 0
    mutating func put(_ raw: UnsafeRawBufferPointer) { count += raw.count }
}

struct FillingSink: RecordSink {
    let base: UnsafeMutableRawBufferPointer
    var offset = 0
    mutating func put(_ raw: UnsafeRawBufferPointer) {
        guard raw.count > 0, let source = raw.baseAddress, let target = base.baseAddress else { return }
        precondition(offset + raw.count <= base.count, "record grew between measuring and writing")
        (target + offset).copyMemory(from: source, byteCount: raw.count)
        offset += raw.count
    }
}

extension RecordSink {
    mutating func put(_ octets: some ContiguousOctets) { octets.withUnsafeBytes { put($0) } }
    mutating func integer<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { put($0) } }
    mutating func u8(_ value: UInt8) { integer(value) }
    mutating func u16(_ value: UInt16) { integer(value) }
    mutating func u32(_ value: UInt32) { integer(value) }
    mutating func u64(_ value: UInt64) { integer(value) }
    mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    mutating func double(_ value: Double) { u64(value.bitPattern) }
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8.prefix(255))
        u8(UInt8(utf8.count))
        put(utf8)
    }
    mutating func bytes8(_ value: [UInt8]) {
        u8(UInt8(value.count))
        put(value)
    }
    mutating func bytes16(_ value: [UInt8]) {
        u16(UInt16(value.count))
        put(value)
    }
    mutating func secret(_ value: SecretBytes) {
        u16(UInt16(value.count))
        put(value)
    }
    mutating func present<T>(_ value: T?, _ body: (inout Self, T) -> Void) {
        guard let value else { return u8(0) }
        u8(1)
        body(&self, value)
    }
    mutating func datagrams(_ value: IKEDatagrams) {
        u8(UInt8(value.count))
        for datagram in value { bytes16(datagram) }
    }
    mutating func endpoint(_ value: IKEEndpoint) {
        bytes8(value.address)
        u16(value.port)
    }
    mutating func identity(_ value: IdentificationPayload) {
        u8(value.idType.rawValue)
        put(value.reserved)
        bytes16(value.identificationData)
    }
    mutating func selectors(_ value: [TrafficSelector]) {
        u8(UInt8(value.count))
        for selector in value {
            u8(selector.type.rawValue)
            u8(selector.ipProtocolID)
            u16(selector.startPort)
            u16(selector.endPort)
            bytes8(selector.startAddress)
            bytes8(selector.endAddress)
        }
    }
    mutating func parameters(_ value: ChildSAParameters) {
        u32(value.spi)
        bytes8(value.source)
        bytes8(value.destination)
        u16(value.encryption.rawValue)
        u16(UInt16(value.encryptionKeyLengthBits ?? 0))
        u16(value.integrity.rawValue)
        secret(value.encryptionKey)
        secret(value.integrityKey)
    }
    mutating func childSA(_ value: ChildSAInstallation) {
        string(value.name)
        u32(value.reqid)
        u8(value.mode == .tunnel ? 0 : 1)
        parameters(value.inbound)
        parameters(value.outbound)
        selectors(value.localTrafficSelectors)
        selectors(value.remoteTrafficSelectors)
        bool(value.extendedSequenceNumbers)
        u32(value.replayWindow)
        let lifetime = value.lifetime
        for limit in [lifetime.softSeconds, lifetime.hardSeconds, lifetime.softBytes, lifetime.hardBytes,
                      lifetime.softPackets, lifetime.hardPackets, lifetime.softBytesJitter, lifetime.softPacketsJitter] {
            u64(limit)
        }
        present(value.udpEncapsulation) { sink, encapsulation in
            sink.u16(encapsulation.sourcePort)
            sink.u16(encapsulation.destinationPort)
        }
        bool(value.outboundDeferred)
        present(value.rekeyOf) { sink, reference in
            sink.u32(reference.reqid)
            sink.u32(reference.inboundSPI)
            sink.u32(reference.outboundSPI)
        }
    }
}

// MARK: - Reader

struct RecordReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int, _ field: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw IKESARecordError.truncated(field: field()) }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    mutating func integer<T: FixedWidthInteger>(_ field: @autoclosure () -> String, as: T.Type = T.self) throws -> T {
        let raw = try take(MemoryLayout<T>.size, field())
        return raw.reduce(T(0)) { $0 << 8 | T($1) }
    }
    mutating func u8(_ field: @autoclosure () -> String) throws -> UInt8 { try integer(field()) }
    mutating func u16(_ field: @autoclosure () -> String) throws -> UInt16 { try integer(field()) }
    mutating func u32(_ field: @autoclosure () -> String) throws -> UInt32 { try integer(field()) }
    mutating func u64(_ field: @autoclosure () -> String) throws -> UInt64 { try integer(field()) }

    mutating func bool(_ field: @autoclosure () -> String) throws -> Bool {
        switch try u8(field()) {
        case 0: return false
        case 1: return true
        case let other: throw IKESARecordError.invalidValue(field: field(), reason: "boolean octet \(other)")
        }
    }

    mutating func double(_ field: @autoclosure () -> String) throws -> Double {
        let value = Double(bitPattern: try u64(field()))
        guard value.isFinite else { throw IKESARecordError.invalidValue(field: field(), reason: "not a finite time") }
        return value
    }

    mutating func string(_ field: @autoclosure () -> String) throws -> String {
        let length = Int(try u8(field() + " length"))
        let raw = try take(length, field())
        guard let value = String(validating: raw, as: UTF8.self) else {
            throw IKESARecordError.invalidValue(field: field(), reason: "not UTF-8")
        }
        return value
    }

    mutating func bytes8(_ field: @autoclosure () -> String) throws -> [UInt8] {
        Array(try take(Int(try u8(field() + " length")), field()))
    }

    mutating func bytes16(_ field: @autoclosure () -> String) throws -> [UInt8] {
        Array(try take(Int(try u16(field() + " length")), field()))
    }

    /// A key of exactly `length` octets, copied straight into secret storage.
    mutating func secret(_ field: @autoclosure () -> String, length: Int) throws -> SecretBytes {
        let stored = Int(try u16(field() + " length"))
        guard stored == length else {
            throw IKESARecordError.invalidValue(field: field(), reason: "\(stored) octets where the transform needs \(length)")
        }
        return SecretBytes(copying: try take(length, field()))
    }

    mutating func optional<T>(_ field: @autoclosure () -> String, _ body: (inout RecordReader) throws -> T) throws -> T? {
        try bool(field() + " presence") ? try body(&self) : nil
    }

    mutating func datagrams(_ field: @autoclosure () -> String) throws -> IKEDatagrams {
        let count = Int(try u8(field() + " count"))
        guard (1...IKESARecord.maximumDatagrams).contains(count) else {
            throw IKESARecordError.invalidValue(field: field(), reason: "\(count) datagrams")
        }
        return try (0..<count).map { index in
            let datagram = try bytes16(field() + " \(index)")
            guard datagram.count >= IKEHeader.length else {
                throw IKESARecordError.invalidValue(field: field(), reason: "datagram shorter than an IKE header")
            }
            return datagram
        }
    }

    mutating func address(_ field: @autoclosure () -> String) throws -> [UInt8] {
        let address = try bytes8(field())
        guard address.count == 4 || address.count == 16 else {
            throw IKESARecordError.invalidValue(field: field(), reason: "\(address.count)-octet address")
        }
        return address
    }

    mutating func endpoint(_ field: @autoclosure () -> String) throws -> IKEEndpoint {
        IKEEndpoint(address: try address(field()), port: try u16(field() + " port"))
    }

    mutating func identity(_ field: @autoclosure () -> String) throws -> IdentificationPayload {
        let type = IdentificationType(rawValue: try u8(field() + " type"))
        let reserved = Array(try take(3, field() + " reserved"))
        let data = try bytes16(field())
        guard !data.isEmpty else { throw IKESARecordError.invalidValue(field: field(), reason: "empty") }
        return IdentificationPayload(idType: type, identificationData: data, reserved: reserved)
    }

    mutating func suite(_ field: @autoclosure () -> String) throws -> EncryptionSuite {
        let encryption = EncryptionAlgorithm(rawValue: try u16(field() + " ENCR"))
        let bits = Int(try u16(field() + " key length"))
        let integrity = IntegrityAlgorithm(rawValue: try u16(field() + " INTEG"))
        let suite = EncryptionSuite(encryption: encryption, keyLengthBits: bits == 0 ? nil : bits, integrity: integrity)
        guard (try? suite.validate()) != nil else {
            throw IKESARecordError.invalidValue(field: field(), reason: "\(suite) not supported")
        }
        return suite
    }

    mutating func selectors(_ field: @autoclosure () -> String) throws -> [TrafficSelector] {
        let count = Int(try u8(field() + " count"))
        guard (1...IKESARecord.maximumSelectors).contains(count) else {
            throw IKESARecordError.invalidValue(field: field(), reason: "\(count) selectors")
        }
        return try (0..<count).map { index in
            let name = field() + " \(index)"
            let type = TrafficSelectorType(rawValue: try u8(name + " type"))
            let selector = TrafficSelector(type: type, ipProtocolID: try u8(name + " protocol"),
                                           startPort: try u16(name + " start port"), endPort: try u16(name + " end port"),
                                           startAddress: try address(name + " start"), endAddress: try address(name + " end"))
            guard selector.startAddress.count == selector.endAddress.count else {
                throw IKESARecordError.invalidValue(field: name, reason: "start and end of different families")
            }
            return selector
        }
    }

    mutating func parameters(_ field: @autoclosure () -> String) throws -> ChildSAParameters {
        let spi = try u32(field() + " SPI")
        let source = try address(field() + " source")
        let destination = try address(field() + " destination")
        let suite = try self.suite(field() + " ENCR/INTEG")
        return ChildSAParameters(
            spi: spi, source: source, destination: destination, encryption: suite.encryption,
            encryptionKeyLengthBits: suite.keyLengthBits, integrity: suite.integrity,
            encryptionKey: try secret(field() + " encryption key", length: suite.encryptionKeyLength ?? 0),
            integrityKey: try secret(field() + " integrity key", length: suite.integrityKeyLength ?? 0))
    }

    mutating func childSA(_ field: @autoclosure () -> String) throws -> ChildSAInstallation {
        let name = try string(field() + " name")
        let reqid = try u32(field() + " reqid")
        let mode: ChildSAMode
        switch try u8(field() + " mode") {
        case 0: mode = .tunnel
        case 1: mode = .transport
        case let other: throw IKESARecordError.invalidValue(field: field() + " mode", reason: "\(other)")
        }
        let inbound = try parameters(field() + " inbound")
        let outbound = try parameters(field() + " outbound")
        let local = try selectors(field() + " local selectors")
        let remote = try selectors(field() + " remote selectors")
        let esn = try bool(field() + " ESN")
        let replayWindow = try u32(field() + " replay window")
        var limits: [UInt64] = []
        for _ in 0..<8 { limits.append(try u64(field() + " lifetime")) }
        let encapsulation = try optional(field() + " UDP encapsulation") { reader in
            UDPEncapsulation(sourcePort: try reader.u16("UDP source port"), destinationPort: try reader.u16("UDP destination port"))
        }
        let outboundDeferred = try bool(field() + " outbound deferred")
        let rekeyOf = try optional(field() + " rekey of") { reader in
            ChildSAReference(reqid: try reader.u32("rekeyed reqid"), inboundSPI: try reader.u32("rekeyed inbound SPI"),
                             outboundSPI: try reader.u32("rekeyed outbound SPI"))
        }
        var child = ChildSAInstallation(
            name: name, reqid: reqid, mode: mode, inbound: inbound, outbound: outbound,
            localTrafficSelectors: local, remoteTrafficSelectors: remote, extendedSequenceNumbers: esn,
            replayWindow: replayWindow,
            lifetime: ChildSALifetime(softSeconds: limits[0], hardSeconds: limits[1], softBytes: limits[2], hardBytes: limits[3],
                                      softPackets: limits[4], hardPackets: limits[5], softBytesJitter: limits[6],
                                      softPacketsJitter: limits[7]),
            udpEncapsulation: encapsulation)
        child.outboundDeferred = outboundDeferred
        child.rekeyOf = rekeyOf
        return child
    }
}
