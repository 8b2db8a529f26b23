// INFORMATIONAL with a Delete of one CHILD_SA that we start on our own (RFC 7296 1.4.1),
// e.g. after the kernel's hard lifetime removed one of its SAs:
//
//     HDR, SK {D(ESP, our inbound SPI)}  -->
//                                    <--  HDR, SK {D(ESP, its inbound SPI)}
//
// The CHILD_SA leaves `childSAs` (and the shell gets `.delete`) once answered, as for the
// old CHILD_SA after a rekey (CreateChildSA.swift's `childSADeletionAnswered`).

extension IKESA {
    /// Deletes the CHILD_SA whose inbound SPI is `inboundSPI` with the peer. Empty when the
    /// IKE_SA is not established, another exchange is in flight (try again later) or no
    /// such CHILD_SA exists (see `hasChildSA(inboundSPI:)`).
    public mutating func deleteChildSA(inboundSPI: UInt32, now: Double) -> [IKEAction] {
        guard phase == .established, canSendRequest,
              let child = childSAs.first(where: { $0.inbound.spi == inboundSPI }) else { return [] }
        return deleteChildSARequest(child, now: now)
    }

    /// Whether this IKE_SA holds a CHILD_SA with this inbound SPI.
    public func hasChildSA(inboundSPI: UInt32) -> Bool {
        childSAs.contains { $0.inbound.spi == inboundSPI }
    }
}
