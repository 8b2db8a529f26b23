// Following a redirect as the client (RFC 5685); the gateway's side is Redirect.swift and
// IKEDaemon/Gateway/IKEGateway+Redirect.swift.
//
// In IKE_SA_INIT (section 4.2), when we announced support:
//
//     Initiator (us)                          Responder (the gateway)
//     HDR(SPIi, 0), SAi1, KEi, Ni,
//       N(REDIRECT_SUPPORTED)          -->
//                                      <--  HDR(SPIi, 0), N(REDIRECT, New_GW_ID, Ni)
//     (to New_GW_ID:)
//     HDR(SPIi', 0), SAi1, KEi, Ni',
//       N(REDIRECTED_FROM, Old_GW_ID)  -->
//
// The answer is not protected: only its Nonce Data, which must equal our Ni, ties it to our
// request; one that does not is ignored (and counted) and we keep waiting for the real one.
// REDIRECTED_FROM stands for REDIRECT_SUPPORTED in the new request (as strongSwan sends it).
//
// In an established IKE_SA (section 5), an INFORMATIONAL request from the gateway:
//
//                                      <--  HDR, SK {N(REDIRECT, New_GW_ID)}
//     HDR, SK {}                       -->
//
// It carries no nonce. We answer it, then the shell sets up again with the new gateway and
// deletes this IKE_SA (its CHILD_SAs are made again by the new one), as strongSwan does.
// The shell also bounds how often it follows (`RedirectHistory`), so that two gateways
// sending a client to each other cannot keep it moving.

extension IKESA {
    /// N(REDIRECT_SUPPORTED), or N(REDIRECTED_FROM) once redirected, for our IKE_SA_INIT
    /// request; nothing unless the configuration follows redirects.
    func redirectAnnouncement(_ exchange: inout InitExchange) -> [IKEPayload] {
        guard configuration.followRedirects else { return [] }
        exchange.announcedRedirectSupport = true
        guard let from = exchange.redirectedFrom else { return [.notify(NotifyPayload(messageType: .redirectSupported))] }
        return [.notify(NotifyPayload(messageType: .redirectedFrom, notificationData: RedirectNotification(gateway: from).data))]
    }

    /// An IKE_SA_INIT response with N(REDIRECT): follow it when its nonce is our Ni (this IKE_SA
    /// ends, the shell starts the new one); otherwise ignore it and keep waiting.
    mutating func processInitRedirect(_ notify: NotifyPayload) -> [IKEAction] {
        guard announcedRedirectSupport, let redirect = try? RedirectNotification(parsing: notify.notificationData),
              let ni = initExchange?.nonceInitiator, !ni.isEmpty, redirect.nonce == ni else {
            counters.redirectsIgnored += 1
            return []
        }
        _ = taskManager.abandonOutstanding()
        return [.redirect(to: redirect.gateway)] + closeUnanswered("redirected to \(redirect.gateway) in IKE_SA_INIT")
    }

    /// An INFORMATIONAL request with N(REDIRECT) in an established IKE_SA: answered; followed
    /// (reported to the shell) when we announced support and it carries no nonce.
    mutating func processEstablishedRedirect(_ notify: NotifyPayload, messageID: UInt32) -> [IKEAction] {
        let response = respond(exchange: .informational, messageID: messageID, payloads: [])
        guard announcedRedirectSupport, phase == .established,
              let redirect = try? RedirectNotification(parsing: notify.notificationData), redirect.nonce.isEmpty else {
            counters.redirectsIgnored += 1
            return response
        }
        return response + [.redirect(to: redirect.gateway)]
    }
}

extension RedirectNotification.Gateway {
    /// The gateway at an address of 4 or 16 octets (nil for other lengths).
    public init?(address: [UInt8]) {
        switch address.count {
        case 4: self = .ipv4(address)
        case 16: self = .ipv6(address)
        default: return nil
        }
    }

    /// The address, for an IP gateway; nil for a host name.
    public var address: [UInt8]? {
        switch self {
        case .ipv4(let address), .ipv6(let address): return address
        case .fqdn: return nil
        }
    }
}

/// When a client followed redirects, to stop a loop: at most `maximum` within `window`
/// seconds (strongSwan: 5 in 300 s, MAX_REDIRECTS and REDIRECT_LOOP_DETECT_PERIOD).
public struct RedirectHistory: Sendable, Equatable {
    public static let defaultMaximum = 5
    public static let defaultWindow: Double = 300

    public let maximum: Int
    public let window: Double
    /// When the redirects within the window were followed, oldest first.
    public private(set) var followedAt: [Double] = []

    public init(maximum: Int = defaultMaximum, window: Double = defaultWindow) {
        self.maximum = maximum
        self.window = window
    }

    /// Records a redirect at `now` and returns true, or returns false (nothing recorded) when
    /// `maximum` were followed within the last `window` seconds already.
    public mutating func admit(now: Double) -> Bool {
        followedAt.removeAll { $0 <= now - window }
        guard followedAt.count < maximum else { return false }
        followedAt.append(now)
        return true
    }
}
