/// Octets from hex, for test data: anything but hex digits (spaces, colons, newlines) is
/// ignored; an odd number of digits traps.
public func hexBytes(_ string: String) -> [UInt8] {
    let digits = string.filter(\.isHexDigit)
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
