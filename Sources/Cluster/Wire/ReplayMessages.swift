import NIOCore

extension ClusterMessage {
    /// Agent → routing node: one inbound SA's anti-replay state as this target's kernel keeps
    /// it, *after* the ICV check (XFRM_MSG_NEWAE): the only evidence that moves the routing
    /// node's check-only window (inbound claim 9, RFC 4303 §3.4.3) and the SA authority's
    /// inbound high-water mark (claim 22).
    ///
    /// Body: SA id (u64), top (u64: the highest authenticated sequence number, 64-bit with
    /// ESN), count (u16, at most 1024), bitmap words (u64 each; bit i of the whole = number
    /// top - i was received and authenticated). The kernel's own layouts (a 32-bit bitmap
    /// aligned at the top, or the ESN ring indexed by (seq - 1) mod W) are converted by the
    /// agent (`XFRMReplayState.authenticatedWindow`).
    public struct ReplayReport: Equatable, Sendable, CustomStringConvertible {
        /// 1024 words = 65,536 numbers, the largest window anyone keeps.
        public static let maximumWords = 1024

        public var saID: ClusterSAID
        public var top: UInt64
        public var bitmap: [UInt64]

        public init(saID: ClusterSAID, top: UInt64, bitmap: [UInt64]) {
            self.saID = saID
            self.top = top
            self.bitmap = Array(bitmap.prefix(Self.maximumWords))
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("ReplayReport SA id")
            top = try buffer.readClusterInteger("ReplayReport top")
            bitmap = try buffer.readClusterList("ReplayReport bitmap", maximum: Self.maximumWords) {
                try $0.readClusterInteger("ReplayReport bitmap word", as: UInt64.self)
            }
            guard top > 0 || bitmap.allSatisfy({ $0 == 0 }) else {
                throw ClusterWireError.invalidValue(field: "ReplayReport bitmap", reason: "bits set with top 0")
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeInteger(top)
            buffer.writeClusterList(bitmap.prefix(Self.maximumWords)) { $0.writeInteger($1) }
        }

        public var description: String {
            "ReplayReport(\(saID), top \(top), \(bitmap.reduce(0) { $0 + $1.nonzeroBitCount }) of \(bitmap.count * 64) bits)"
        }
    }
}
