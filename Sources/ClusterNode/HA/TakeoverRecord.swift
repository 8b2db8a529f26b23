// The value the active routing node keeps in etcd per IKE_SA (`<prefix>ike/<local SPI hex>`,
// docs/takeover.md section 2), before sealing (HACoordination.RecordSealer): the IKE_SA's
// record (IKEv2.IKESARecord) and the cluster SAs its CHILD_SAs were distributed as, each
// as the InstallSA body sent to the targets, so that a new active resends them byte for byte.
//
//     "VTKR" | version u8 (1) | IKE record length u32 | IKE record | SA count u16 | (length u16 | InstallSA body)*
//
// The octets hold keys: built in a ByteBuffer that is zeroed once copied into SecretBytes.
import Cluster
import Glibc
import IKEv2
import NIOCore

public struct TakeoverRecord: Sendable, Equatable {
    public var ikeSA: IKESARecord
    public var clusterSAs: [SADescription]

    public init(ikeSA: IKESARecord, clusterSAs: [SADescription]) {
        self.ikeSA = ikeSA
        self.clusterSAs = clusterSAs
    }

    static let magic: [UInt8] = Array("VTKR".utf8)
    static let version: UInt8 = 1
    static let maximumClusterSAs = 8192

    /// The etcd key of the IKE_SA with our SPI `localSPI` under `prefix` (ending in /).
    public static func key(prefix: String, localSPI: UInt64) -> String {
        let hex = String(localSPI, radix: 16)
        return prefix + "ike/" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    public func encoded() -> SecretBytes {
        var buffer = ByteBuffer()
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(Self.version)
        let ike = ikeSA.encoded()
        buffer.writeInteger(UInt32(ike.count))
        ike.withUnsafeBytes { buffer.writeBytes($0) }
        buffer.writeInteger(UInt16(clusterSAs.count))
        for sa in clusterSAs {
            var body = ByteBuffer()
            ClusterMessage.InstallSA(sa: sa).write(to: &body)
            buffer.writeInteger(UInt16(body.readableBytes))
            buffer.writeImmutableBuffer(body)
            Self.zero(&body)
        }
        defer { Self.zero(&buffer) }
        return buffer.withUnsafeReadableBytes { SecretBytes(copying: $0) }
    }

    public init(decoding octets: SecretBytes) throws {
        var buffer = octets.withUnsafeBytes { ByteBuffer(bytes: $0) }
        defer { Self.zero(&buffer) }
        guard buffer.readBytes(length: 4) == Self.magic else { throw TakeoverRecordError("not a takeover record (magic)") }
        guard let version: UInt8 = buffer.readInteger() else { throw TakeoverRecordError("truncated in version") }
        guard version == Self.version else { throw TakeoverRecordError("version \(version) not supported") }
        guard let ikeLength: UInt32 = buffer.readInteger(), Int(ikeLength) <= buffer.readableBytes else {
            throw TakeoverRecordError("truncated in the IKE_SA record")
        }
        let ike = buffer.readWithUnsafeReadableBytes { raw in
            (Int(ikeLength), SecretBytes(copying: UnsafeRawBufferPointer(rebasing: raw.prefix(Int(ikeLength)))))
        }
        ikeSA = try IKESARecord(decoding: ike)
        guard let count: UInt16 = buffer.readInteger(), Int(count) <= Self.maximumClusterSAs else {
            throw TakeoverRecordError("truncated in the cluster SA count")
        }
        clusterSAs = []
        for index in 0..<Int(count) {
            guard let length: UInt16 = buffer.readInteger(), var body = buffer.readSlice(length: Int(length)) else {
                throw TakeoverRecordError("truncated in cluster SA \(index)")
            }
            do {
                clusterSAs.append(try ClusterMessage.InstallSA(parsing: &body).sa)
            } catch {
                throw TakeoverRecordError("cluster SA \(index): \(error)")
            }
            guard body.readableBytes == 0 else { throw TakeoverRecordError("cluster SA \(index): trailing octets") }
        }
        guard buffer.readableBytes == 0 else { throw TakeoverRecordError("\(buffer.readableBytes) trailing octets") }
    }

    static func zero(_ buffer: inout ByteBuffer) {
        buffer.moveReaderIndex(to: 0)
        buffer.withUnsafeMutableReadableBytes { raw in
            if let base = raw.baseAddress { explicit_bzero(base, raw.count) }
        }
    }
}

public struct TakeoverRecordError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
