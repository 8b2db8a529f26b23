import CMNL
import VipsecTestSupport
import XCTest
@testable import Netlink
@testable import XFRM

func bytes(hex: String) -> [UInt8] { hexBytes(hex) }

func key(_ text: String) -> XFRMKey { XFRMKey(hex: text)! }

/// 00 01 02 ... (count bytes).
func sequentialKey(_ count: Int) -> XFRMKey { XFRMKey((0..<count).map { UInt8($0) }) }

func address(_ text: String) -> XFRMAddress { XFRMAddress(text)! }

/// A message's payload split into the fixed header and its attributes (type → payload),
/// so two encoders can be compared regardless of attribute order.
struct Decoded: Equatable {
    var fixed: [UInt8]
    var attributes: [UInt16: [UInt8]]

    init(payload: [UInt8], fixedSize: Int) {
        fixed = Array(payload.prefix(fixedSize))
        attributes = [:]
        var offset = NetlinkAlignment.align(fixedSize)
        while offset + 4 <= payload.count {
            let length = Int(payload[offset]) | Int(payload[offset + 1]) << 8
            let type = UInt16(payload[offset + 2]) | UInt16(payload[offset + 3]) << 8
            attributes[type] = Array(payload[(offset + 4)..<(offset + length)])
            offset += NetlinkAlignment.align(length)
        }
    }
}

extension NetlinkMessageBuilder {
    /// The payload after the 16-byte header.
    var payload: [UInt8] { Array(bytes[16...]) }

    /// The message as the kernel would hand it back (for parser round trips).
    var asReceived: NetlinkMessage {
        NetlinkMessage(type: type, flags: flags, sequence: 0, portID: 0, payload: payload)
    }
}
