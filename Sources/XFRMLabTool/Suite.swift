import LabToolSupport
import Glibc
import XFRM

/// The feature suite the scenario checks with `ip xfrm state` / `ip xfrm policy`:
/// one SA per feature, fixed SPIs, deterministic keys (seed = SPI's low byte).
func suiteStates(source: XFRMAddress, destination: XFRMAddress, source6: XFRMAddress,
                 destination6: XFRMAddress, offloadDevice: Int32) -> [XFRMAddState] {
    func id(_ spi: UInt32, v6: Bool = false, mark: XFRMMark? = nil) -> XFRMStateID {
        XFRMStateID(source: v6 ? source6 : source, destination: v6 ? destination6 : destination,
                    spi: spi, mark: mark)
    }
    let tcp: UInt8 = 6
    return [
        // AES-GCM-128, transport, small window.
        XFRMAddState(id: id(0x1001), reqid: 1, mode: .transport,
                     aead: .aesGCM(key: labKey(20, seed: 0x01)), replay: XFRMReplayState(window: 32)),
        // AES-GCM-256, tunnel, ESN, the kernel's largest window, 64-bit initial sequence numbers.
        XFRMAddState(id: id(0x1002), reqid: 2, mode: .tunnel, aead: .aesGCM(key: labKey(36, seed: 0x02)),
                     replay: XFRMReplayState(window: 4096, extendedSequenceNumbers: true,
                                             sequence: 0x2_0000_0020, outputSequence: 0x1_0000_0500)),
        // ChaCha20-Poly1305, tunnel, ESP-in-UDP 4500, mark, if_id, selector, every lifetime.
        XFRMAddState(id: id(0x1003, mark: XFRMMark(value: 0x10, mask: 0xff)), reqid: 3, mode: .tunnel,
                     selector: XFRMSelector(source: XFRMPrefix("192.168.1.0/24"), destination: XFRMPrefix("192.168.2.0/24"),
                                            upperProtocol: tcp, sourcePort: 80, destinationPort: 443),
                     lifetime: XFRMLifetime(softByteLimit: 1000, hardByteLimit: 2000, softPacketLimit: 10,
                                            hardPacketLimit: 20, softAddExpireSeconds: 3000, hardAddExpireSeconds: 6000,
                                            softUseExpireSeconds: 4000, hardUseExpireSeconds: 7000),
                     aead: .chaCha20Poly1305(key: labKey(36, seed: 0x03)), encap: .espInUDP, interfaceID: 5),
        // AES-CBC-128 + HMAC-SHA-256-128, non-ESN window 64 with initial seq/oseq.
        XFRMAddState(id: id(0x1004), reqid: 4, mode: .transport, encryption: .aesCBC(key: labKey(16, seed: 0x04)),
                     integrity: .hmacSHA256(key: labKey(32, seed: 0x44)),
                     replay: XFRMReplayState(window: 64, sequence: 0x20, outputSequence: 0x500)),
        // AES-CBC-256 + HMAC-SHA-384-192, non-ESN window 32 with XFRMA_REPLAY_VAL.
        XFRMAddState(id: id(0x1005), reqid: 5, mode: .tunnel, encryption: .aesCBC(key: labKey(32, seed: 0x05)),
                     integrity: .hmacSHA384(key: labKey(48, seed: 0x55)),
                     replay: XFRMReplayState(window: 32, sequence: 7, outputSequence: 9)),
        // AES-CBC-192 + HMAC-SHA-512-256 over IPv6.
        XFRMAddState(id: id(0x1006, v6: true), reqid: 6, mode: .tunnel, encryption: .aesCBC(key: labKey(24, seed: 0x06)),
                     integrity: .hmacSHA512(key: labKey(64, seed: 0x66)), replay: XFRMReplayState(window: 128)),
        // Offload requested on a device that cannot: must land in software.
        XFRMAddState(id: id(0x1007), reqid: 7, mode: .transport, aead: .aesGCM(key: labKey(28, seed: 0x07)),
                     replay: XFRMReplayState(window: 32),
                     offload: XFRMOffload(interfaceIndex: offloadDevice, inbound: false)),
        // Packet offload requested: the device refuses outright; fallback to software.
        XFRMAddState(id: id(0x1008), reqid: 8, mode: .transport, aead: .aesGCM(key: labKey(20, seed: 0x08)),
                     replay: XFRMReplayState(window: 32),
                     offload: XFRMOffload(interfaceIndex: offloadDevice, inbound: true, packet: true)),
    ]
}

func suitePolicies(source: XFRMAddress, destination: XFRMAddress) -> [XFRMPolicy] {
    let local = XFRMPrefix("192.168.1.0/24")!
    let remote = XFRMPrefix("192.168.2.0/24")!
    let out = XFRMSelector(source: local, destination: remote, upperProtocol: 6, sourcePort: 80, destinationPort: 443)
    let back = XFRMSelector(source: remote, destination: local, upperProtocol: 6, sourcePort: 443, destinationPort: 80)
    return [
        XFRMPolicy(selector: out, direction: .outbound, priority: 100,
                   templates: [XFRMTemplate(source: source, destination: destination, reqid: 3, mode: .tunnel)],
                   mark: XFRMMark(value: 0x10, mask: 0xff), interfaceID: 5),
        XFRMPolicy(selector: back, direction: .inbound, priority: 101,
                   templates: [XFRMTemplate(source: destination, destination: source, reqid: 3, mode: .tunnel)]),
        XFRMPolicy(selector: back, direction: .forward, priority: 102,
                   templates: [XFRMTemplate(source: destination, destination: source, reqid: 3, mode: .tunnel, optional: true)]),
        XFRMPolicy(selector: XFRMSelector(source: XFRMPrefix("10.9.9.0/24"), destination: XFRMPrefix("10.8.8.0/24"), upperProtocol: 17),
                   direction: .outbound, action: .block, priority: 5),
    ]
}

/// Bad input: each case must fail, with our validation text or the kernel's.
func runErrorCases(_ kernel: XFRMKernel, source: XFRMAddress, destination: XFRMAddress) throws -> Bool {
    func id(_ spi: UInt32) -> XFRMStateID { XFRMStateID(source: source, destination: destination, spi: spi) }
    var allFailed = true
    func expectFailure(_ name: String, validating: Bool = true, _ body: () throws -> Void) {
        kernel.validatesRequests = validating
        defer { kernel.validatesRequests = true }
        do {
            try body()
            print("error-case \(name): NO ERROR")
            allFailed = false
        } catch {
            print("error-case \(name): \(error)")
        }
    }
    let good = XFRMAddState(id: id(0x2001), aead: .aesGCM(key: labKey(20, seed: 9)), replay: XFRMReplayState(window: 32))
    try kernel.addState(good)
    expectFailure("duplicate-spi") { try kernel.addState(good) }
    expectFailure("unknown-algorithm", validating: false) {
        try kernel.addState(XFRMAddState(id: id(0x2002), aead: XFRMAlgorithm(kind: .aead, name: "rfc4106(gcm(nosuch))",
                                                                          key: labKey(20, seed: 1), bits: 128)))
    }
    expectFailure("unknown-encryption", validating: false) {
        try kernel.addState(XFRMAddState(id: id(0x2003), encryption: XFRMAlgorithm(kind: .encryption, name: "cbc(nosuch)", key: labKey(16, seed: 1)),
                                         integrity: .hmacSHA256(key: labKey(32, seed: 1))))
    }
    expectFailure("wrong-key-length-validated") {
        try kernel.addState(XFRMAddState(id: id(0x2004), aead: .aesGCM(key: labKey(17, seed: 1))))
    }
    expectFailure("wrong-key-length-kernel", validating: false) {
        try kernel.addState(XFRMAddState(id: id(0x2005), aead: .aesGCM(key: labKey(17, seed: 1))))
    }
    expectFailure("aead-plus-integrity") {
        try kernel.addState(XFRMAddState(id: id(0x2006), aead: .aesGCM(key: labKey(20, seed: 1)),
                                         integrity: .hmacSHA256(key: labKey(32, seed: 1))))
    }
    expectFailure("esn-without-window") {
        try kernel.addState(XFRMAddState(id: id(0x2007), aead: .aesGCM(key: labKey(20, seed: 1)),
                                         replay: XFRMReplayState(window: 0, extendedSequenceNumbers: true)))
    }
    expectFailure("esn-without-window-kernel", validating: false) {
        try kernel.addState(XFRMAddState(id: id(0x2008), aead: .aesGCM(key: labKey(20, seed: 1)),
                                         replay: XFRMReplayState(window: 0, extendedSequenceNumbers: true)))
    }
    expectFailure("window-over-maximum") {
        try kernel.addState(XFRMAddState(id: id(0x2009), aead: .aesGCM(key: labKey(20, seed: 1)),
                                         replay: XFRMReplayState(window: 8192, extendedSequenceNumbers: true)))
    }
    expectFailure("delete-missing") { try kernel.deleteState(id(0x20ff)) }
    expectFailure("get-missing") { _ = try kernel.getState(id(0x20ff)) }
    try kernel.deleteState(good.id)
    return allFailed
}
