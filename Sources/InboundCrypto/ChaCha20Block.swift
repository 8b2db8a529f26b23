// The ChaCha20 block function (RFC 8439 §2.3) in Swift: one 64-octet keystream block from a
// 256-bit key, a 32-bit block counter and a 96-bit nonce. The peek for ChaCha20-Poly1305
// needs one block per packet (bytes 0-63 of the payload use counter 1, RFC 7634 §2 /
// RFC 8439 §2.8); a per-packet EVP_CipherInit costs ~180 ns in OpenSSL 3, this ~1/3 of it
// (the benchmark prints both).

enum ChaCha20 {
    /// Writes the keystream block for (key, counter, nonce) into `output` (64 octets).
    /// `key`: 8 little-endian words; `nonce`: 3 little-endian words.
    @inline(__always)
    static func block(key k: UnsafePointer<UInt32>, counter: UInt32, nonce n: (UInt32, UInt32, UInt32),
                      into output: UnsafeMutableRawPointer) {
        let c0: UInt32 = 0x6170_7865, c1: UInt32 = 0x3320_646E, c2: UInt32 = 0x7962_2D32, c3: UInt32 = 0x6B20_6574
        var x0 = c0, x1 = c1, x2 = c2, x3 = c3
        var x4 = k[0], x5 = k[1], x6 = k[2], x7 = k[3]
        var x8 = k[4], x9 = k[5], x10 = k[6], x11 = k[7]
        var x12 = counter, x13 = n.0, x14 = n.1, x15 = n.2
        for _ in 0..<10 {
            quarterRound(&x0, &x4, &x8, &x12); quarterRound(&x1, &x5, &x9, &x13)
            quarterRound(&x2, &x6, &x10, &x14); quarterRound(&x3, &x7, &x11, &x15)
            quarterRound(&x0, &x5, &x10, &x15); quarterRound(&x1, &x6, &x11, &x12)
            quarterRound(&x2, &x7, &x8, &x13); quarterRound(&x3, &x4, &x9, &x14)
        }
        let words = output.bindMemory(to: UInt32.self, capacity: 16)
        words[0] = (x0 &+ c0).littleEndian; words[1] = (x1 &+ c1).littleEndian
        words[2] = (x2 &+ c2).littleEndian; words[3] = (x3 &+ c3).littleEndian
        words[4] = (x4 &+ k[0]).littleEndian; words[5] = (x5 &+ k[1]).littleEndian
        words[6] = (x6 &+ k[2]).littleEndian; words[7] = (x7 &+ k[3]).littleEndian
        words[8] = (x8 &+ k[4]).littleEndian; words[9] = (x9 &+ k[5]).littleEndian
        words[10] = (x10 &+ k[6]).littleEndian; words[11] = (x11 &+ k[7]).littleEndian
        words[12] = (x12 &+ counter).littleEndian; words[13] = (x13 &+ n.0).littleEndian
        words[14] = (x14 &+ n.1).littleEndian; words[15] = (x15 &+ n.2).littleEndian
    }

    @inline(__always)
    static func quarterRound(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32) {
        a &+= b; d ^= a; d = d << 16 | d >> 16
        c &+= d; b ^= c; b = b << 12 | b >> 20
        a &+= b; d ^= a; d = d << 8 | d >> 24
        c &+= d; b ^= c; b = b << 7 | b >> 25
    }
}
