import NIOCore

/// Everything a target's kernel needs for one SA (what `ip xfrm state add` takes), plus the
/// cluster's bookkeeping: id, epoch, rekey generation, sequencing and lifesize step.
public struct SADescription: Equatable, Sendable, CustomStringConvertible {
    /// At most this many algorithms (AEAD alone, or cipher + integrity).
    public static let maximumAlgorithms = 3
    /// At most this many selectors (one policy each on the target).
    public static let maximumSelectors = 16
    /// The longest key accepted (bytes).
    public static let maximumKeyLength = 512

    public var saID: ClusterSAID
    public var epoch: ClusterEpoch
    /// Counts rekeys in one CHILD_SA's line (0 for the first SA).
    public var generation: UInt32
    public var spi: UInt32
    public var direction: SADirection
    public var source: IPAddress
    public var destination: IPAddress
    public var ipsecProtocol: IPsecProtocol
    public var mode: SAMode
    public var algorithms: [SAAlgorithm]
    public var extendedSequenceNumbers: Bool
    public var replayWindow: UInt32
    public var lifetimes: SALifetimes
    /// The agent reports this SA's counters each time they grow by this many bytes (N % of
    /// the byte limit, chosen by the routing node's `LifesizeAccounting`).
    public var lifesizeReportStep: UInt64
    public var selectors: [SASelector]
    public var encapsulation: UDPEncapsulation?
    public var reqid: UInt32
    public var sequencing: SequencingMode

    public init(saID: ClusterSAID, epoch: ClusterEpoch, generation: UInt32 = 0, spi: UInt32, direction: SADirection,
                source: IPAddress, destination: IPAddress, ipsecProtocol: IPsecProtocol = .esp, mode: SAMode = .tunnel,
                algorithms: [SAAlgorithm], extendedSequenceNumbers: Bool = false, replayWindow: UInt32 = 32,
                lifetimes: SALifetimes = SALifetimes(), lifesizeReportStep: UInt64 = 0, selectors: [SASelector] = [],
                encapsulation: UDPEncapsulation? = nil, reqid: UInt32 = 0, sequencing: SequencingMode = .notApplicable) {
        self.saID = saID
        self.epoch = epoch
        self.generation = generation
        self.spi = spi
        self.direction = direction
        self.source = source
        self.destination = destination
        self.ipsecProtocol = ipsecProtocol
        self.mode = mode
        self.algorithms = algorithms
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.replayWindow = replayWindow
        self.lifetimes = lifetimes
        self.lifesizeReportStep = lifesizeReportStep
        self.selectors = selectors
        self.encapsulation = encapsulation
        self.reqid = reqid
        self.sequencing = sequencing
    }

    /// The targets that get this SA: its owner for a per-target SA, every live target else.
    public func isMeant(for node: NodeID) -> Bool {
        if case .perTarget(let owner) = sequencing { return owner == node }
        return true
    }

    /// Checks the combinations the kernel would refuse or that make no sense in a cluster.
    public func validate() throws {
        func invalid(_ reason: String) -> ClusterWireError { .invalidValue(field: "SA \(saID)", reason: reason) }
        guard !algorithms.isEmpty, algorithms.count <= SADescription.maximumAlgorithms else {
            throw invalid("\(algorithms.count) algorithms")
        }
        let kinds = algorithms.map(\.kind)
        guard Set(kinds).count == kinds.count else { throw invalid("an algorithm kind appears twice") }
        if kinds.contains(.aead) && kinds.count > 1 { throw invalid("AEAD combined with another algorithm") }
        for algorithm in algorithms where algorithm.name.isEmpty || algorithm.name.utf8.count > 63 {
            throw invalid("algorithm name length \(algorithm.name.utf8.count)")
        }
        for algorithm in algorithms where algorithm.key.count > SADescription.maximumKeyLength {
            throw invalid("\(algorithm.kind) key of \(algorithm.key.count) bytes")
        }
        guard source.isIPv4 == destination.isIPv4 else { throw invalid("mixed address families") }
        guard selectors.count <= SADescription.maximumSelectors else { throw invalid("\(selectors.count) selectors") }
        guard epoch != .none else { throw invalid("epoch zero") }
        switch (direction, sequencing) {
        case (.inbound, .notApplicable), (.outbound, .perTarget), (.outbound, .shared):
            break
        default:
            throw invalid("direction \(direction) with sequencing \(sequencing)")
        }
        if case .shared(let blockSize) = sequencing, blockSize == 0 { throw invalid("shared block size 0") }
        if extendedSequenceNumbers && direction == .inbound && replayWindow == 0 {
            throw invalid("ESN needs a replay window")
        }
    }

    /// No key bytes: algorithms print as name and key length.
    public var description: String {
        "SA(\(saID) \(epoch) gen \(generation) spi 0x\(String(spi, radix: 16)) \(direction) \(source)->\(destination) \(ipsecProtocol) \(mode) [\(algorithms.map(\.description).joined(separator: ", "))] esn \(extendedSequenceNumbers) window \(replayWindow) reqid \(reqid) seq \(sequencing))"
    }
}

extension ClusterMessage {
    /// Routing node → agent: program one kernel SA (and its policies). Body: the
    /// `SADescription` fields in declaration order; lists are u16-counted, optional parts
    /// have a presence byte, keys a u16 length.
    public struct InstallSA: Equatable, Sendable, CustomStringConvertible {
        public var sa: SADescription

        public init(sa: SADescription) { self.sa = sa }

        public var description: String { "InstallSA(\(sa))" }

        public init(parsing buffer: inout ByteBuffer) throws {
            let saID: ClusterSAID = try buffer.readClusterValue("InstallSA id")
            let epoch: ClusterEpoch = try buffer.readClusterValue("InstallSA epoch")
            let generation: UInt32 = try buffer.readClusterInteger("InstallSA generation")
            let spi: UInt32 = try buffer.readClusterInteger("InstallSA spi")
            let direction: SADirection = try buffer.readClusterValue("InstallSA direction")
            let source = try buffer.readClusterAddress("InstallSA source")
            let destination = try buffer.readClusterAddress("InstallSA destination")
            let ipsecProtocol: IPsecProtocol = try buffer.readClusterValue("InstallSA protocol")
            let mode: SAMode = try buffer.readClusterValue("InstallSA mode")
            let algorithms = try buffer.readClusterList("InstallSA algorithms", maximum: SADescription.maximumAlgorithms) { buffer in
                let kind: SAAlgorithmKind = try buffer.readClusterValue("InstallSA algorithm kind")
                let name = try buffer.readClusterString("InstallSA algorithm name", maximumLength: 63)
                let bits: UInt16 = try buffer.readClusterInteger("InstallSA algorithm bits")
                let key = try buffer.readClusterSecret("InstallSA algorithm key", maximumLength: SADescription.maximumKeyLength)
                return SAAlgorithm(kind: kind, name: name, key: key, bits: bits)
            }
            let esn = try buffer.readClusterBool("InstallSA esn")
            let replayWindow: UInt32 = try buffer.readClusterInteger("InstallSA replay window")
            var lifetimes = SALifetimes()
            lifetimes.softByteLimit = try buffer.readClusterInteger("InstallSA soft byte limit")
            lifetimes.hardByteLimit = try buffer.readClusterInteger("InstallSA hard byte limit")
            lifetimes.softPacketLimit = try buffer.readClusterInteger("InstallSA soft packet limit")
            lifetimes.hardPacketLimit = try buffer.readClusterInteger("InstallSA hard packet limit")
            lifetimes.softAddExpiresSeconds = try buffer.readClusterInteger("InstallSA soft add expires")
            lifetimes.hardAddExpiresSeconds = try buffer.readClusterInteger("InstallSA hard add expires")
            let reportStep: UInt64 = try buffer.readClusterInteger("InstallSA lifesize report step")
            let selectors = try buffer.readClusterList("InstallSA selectors", maximum: SADescription.maximumSelectors) { buffer in
                SASelector(
                    source: try buffer.readClusterAddress("InstallSA selector source"),
                    sourcePrefixLength: try buffer.readClusterInteger("InstallSA selector source prefix"),
                    destination: try buffer.readClusterAddress("InstallSA selector destination"),
                    destinationPrefixLength: try buffer.readClusterInteger("InstallSA selector destination prefix"),
                    sourcePort: try buffer.readClusterInteger("InstallSA selector source port"),
                    destinationPort: try buffer.readClusterInteger("InstallSA selector destination port"),
                    ipProtocol: try buffer.readClusterInteger("InstallSA selector protocol"))
            }
            var encapsulation: UDPEncapsulation?
            if try buffer.readClusterBool("InstallSA encapsulation present") {
                encapsulation = UDPEncapsulation(sourcePort: try buffer.readClusterInteger("InstallSA encap source port"),
                                                 destinationPort: try buffer.readClusterInteger("InstallSA encap destination port"))
            }
            let reqid: UInt32 = try buffer.readClusterInteger("InstallSA reqid")
            let sequencing: SequencingMode
            let sequencingCode: UInt8 = try buffer.readClusterInteger("InstallSA sequencing")
            switch sequencingCode {
            case 0: sequencing = .notApplicable
            case 1: sequencing = .perTarget(owner: try buffer.readClusterNodeID("InstallSA owner"))
            case 2: sequencing = .shared(blockSize: try buffer.readClusterInteger("InstallSA block size"))
            default: throw ClusterWireError.invalidValue(field: "InstallSA sequencing", reason: "code \(sequencingCode)")
            }
            sa = SADescription(saID: saID, epoch: epoch, generation: generation, spi: spi, direction: direction,
                               source: source, destination: destination, ipsecProtocol: ipsecProtocol, mode: mode,
                               algorithms: algorithms, extendedSequenceNumbers: esn, replayWindow: replayWindow,
                               lifetimes: lifetimes, lifesizeReportStep: reportStep, selectors: selectors,
                               encapsulation: encapsulation, reqid: reqid, sequencing: sequencing)
            for selector in selectors {
                let maximum: UInt8 = selector.source.isIPv4 ? 32 : 128
                guard selector.source.isIPv4 == selector.destination.isIPv4,
                      selector.sourcePrefixLength <= maximum, selector.destinationPrefixLength <= maximum else {
                    throw ClusterWireError.invalidValue(field: "InstallSA selector", reason: "\(selector)")
                }
            }
            try sa.validate()
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(sa.saID)
            buffer.writeClusterValue(sa.epoch)
            buffer.writeInteger(sa.generation)
            buffer.writeInteger(sa.spi)
            buffer.writeClusterValue(sa.direction)
            buffer.writeClusterAddress(sa.source)
            buffer.writeClusterAddress(sa.destination)
            buffer.writeClusterValue(sa.ipsecProtocol)
            buffer.writeClusterValue(sa.mode)
            buffer.writeClusterList(sa.algorithms) { buffer, algorithm in
                buffer.writeClusterValue(algorithm.kind)
                buffer.writeClusterString(algorithm.name)
                buffer.writeInteger(algorithm.bits)
                buffer.writeClusterSecret(algorithm.key)
            }
            buffer.writeClusterBool(sa.extendedSequenceNumbers)
            buffer.writeInteger(sa.replayWindow)
            buffer.writeInteger(sa.lifetimes.softByteLimit)
            buffer.writeInteger(sa.lifetimes.hardByteLimit)
            buffer.writeInteger(sa.lifetimes.softPacketLimit)
            buffer.writeInteger(sa.lifetimes.hardPacketLimit)
            buffer.writeInteger(sa.lifetimes.softAddExpiresSeconds)
            buffer.writeInteger(sa.lifetimes.hardAddExpiresSeconds)
            buffer.writeInteger(sa.lifesizeReportStep)
            buffer.writeClusterList(sa.selectors) { buffer, selector in
                buffer.writeClusterAddress(selector.source)
                buffer.writeInteger(selector.sourcePrefixLength)
                buffer.writeClusterAddress(selector.destination)
                buffer.writeInteger(selector.destinationPrefixLength)
                buffer.writeInteger(selector.sourcePort)
                buffer.writeInteger(selector.destinationPort)
                buffer.writeInteger(selector.ipProtocol)
            }
            buffer.writeClusterBool(sa.encapsulation != nil)
            if let encapsulation = sa.encapsulation {
                buffer.writeInteger(encapsulation.sourcePort)
                buffer.writeInteger(encapsulation.destinationPort)
            }
            buffer.writeInteger(sa.reqid)
            switch sa.sequencing {
            case .notApplicable:
                buffer.writeInteger(0, as: UInt8.self)
            case .perTarget(let owner):
                buffer.writeInteger(1, as: UInt8.self)
                buffer.writeClusterNodeID(owner)
            case .shared(let blockSize):
                buffer.writeInteger(2, as: UInt8.self)
                buffer.writeInteger(blockSize)
            }
        }
    }
}
