import Glibc
import LabToolSupport
import XFRM

extension Arguments {
    func address(_ name: String) throws -> XFRMAddress {
        let text = try string(name)
        guard let address = XFRMAddress(text) else { throw LabError("--\(name) '\(text)' is not an address") }
        return address
    }

    /// The SA named by --src --dst --spi [--mark V/M].
    func stateID() throws -> XFRMStateID {
        var mark: XFRMMark?
        if let text = optional("mark") {
            let parts = text.split(separator: "/").compactMap { UInt32($0.dropFirst(2), radix: 16) }
            guard parts.count == 2 else { throw LabError("--mark wants 0xV/0xM") }
            mark = XFRMMark(value: parts[0], mask: parts[1])
        }
        return XFRMStateID(source: try address("src"), destination: try address("dst"),
                           spi: try u32("spi"), proto: .esp, mark: mark)
    }
}

/// Deterministic test keys (lab only): byte i = seed + i.
func labKey(_ length: Int, seed: UInt8) -> XFRMKey {
    XFRMKey((0..<length).map { seed &+ UInt8(truncatingIfNeeded: $0) })
}

