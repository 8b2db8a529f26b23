// Pure IKEv2 (RFC 7296): wire codec, payloads, exchanges. No I/O.
