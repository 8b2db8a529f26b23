// The gateway configuration the in-memory IKE conversations share: vipsec on 192.0.2.100,
// one connection `lab` with a PSK for the peer 192.0.2.1 and one child 10.2.0.0/24 <->
// 10.1.0.0/24 (the test peers' side is the mirror image). Only a string: no dependency.
public enum LabGatewayConfig {
    /// `vipsec { }` gets `settings` (e.g. "cookie_threshold = 10"), the connection
    /// `connection` (e.g. "dpd_delay = 0") besides its addresses, proposals and identities.
    public static func text(remoteAddrs: String = "192.0.2.1", settings: [String] = [], connection: [String] = []) -> String {
        func lines(_ items: [String], indent: Int) -> String {
            items.map { String(repeating: " ", count: indent) + $0 + "\n" }.joined()
        }
        return """
            vipsec {
                listen = 192.0.2.100
            \(lines(settings, indent: 4))}
            connections {
                lab {
                    local_addrs = 192.0.2.100
                    remote_addrs = \(remoteAddrs)
                    proposals = aes256gcm16-prfsha256-x25519
            \(lines(connection, indent: 8))        local {
                        id = 192.0.2.100
                    }
                    remote {
                        id = 192.0.2.1
                    }
                    children {
                        lab {
                            local_ts = 10.2.0.0/24
                            remote_ts = 10.1.0.0/24
                            esp_proposals = aes256gcm16
                        }
                    }
                }
            }
            secrets {
                ike-lab {
                    id-1 = 192.0.2.100
                    secret = "lab secret"
                }
            }
            """
    }
}
