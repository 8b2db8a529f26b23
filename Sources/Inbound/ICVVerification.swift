// Full ICV verification at the routing node (claim 9, INBOUND.md §3 option A), optional:
// `cluster { inbound { verify = never | always | under-attack } }`. With it on for an SA,
// the whole packet's ICV is checked (RFC 4303 §3.4.4) right after the replay check and
// before anything else (peek, connection table, forwarding): a failure is dropped as `icv`,
// and a verified packet moves the SA's window itself (RFC 4303 §3.4.3: "the receive window
// is updated only if the integrity verification succeeds"), beside the targets' evidence.

/// When the routing node verifies ICVs.
public enum ICVVerification: String, CaseIterable, Sendable {
    /// Never (the default): peek only; the window moves only on the targets' evidence.
    case never
    /// Every packet of every SA.
    case always
    /// Per SA, while it is under attack: from the first sign of forged ESP on that SA (see
    /// `AttackRule`) until `AttackRule.quietPeriod` passes without another.
    case underAttack = "under-attack"
}

/// The "under attack" switch of one SA. Evidence of forgery: a packet with the SA's SPI
/// that a holder of the key would never send: one that fails the peek's sanity checks
/// (`malformedInner`, `malformedOuter`, `tooShort`, `peekFailed`) or, once verifying, its
/// ICV. Every one of these needs no key, so an attacker can switch verification on at will;
/// that is safe: verification never drops a real packet (it verifies) and only verified
/// packets move the window, so the attacker buys only the routing node's CPU time. No rule
/// here can make a real packet drop: none of them ever turns a pass into a drop for a
/// packet that carries the right ICV.
public struct AttackRule: Sendable, Hashable {
    /// Verification stays on this long after the SA's last sign of forgery.
    public var quietPeriod: Duration = .seconds(60)

    public init(quietPeriod: Duration = .seconds(60)) { self.quietPeriod = quietPeriod }

    /// True when `reason` (a drop on a known SPI) is evidence of forgery.
    public static func isEvidence(_ reason: DropReason) -> Bool {
        switch reason {
        case .malformedInner, .malformedOuter, .tooShort, .peekFailed, .icv: return true
        default: return false
        }
    }
}

/// Verifies the ICV of one SA's packets (RFC 4106 AES-GCM, RFC 7634 ChaCha20-Poly1305,
/// RFC 4303 §2.8 + RFC 4868 / RFC 2404 HMAC for AES-CBC). One per SA, keyed once;
/// `InboundCrypto` implements it with OpenSSL.
public protocol ESPICVVerifier: AnyObject {
    /// `esp`: the ESP packet from the SPI to the last ICV octet; `sequence`: the 64-bit
    /// sequence number (its high half enters the ICV with ESN). True when the ICV is right.
    func verify(_ esp: UnsafeRawBufferPointer, sequence: UInt64) -> Bool
}
