// Throwing readers over ByteBuffer: every read of peer input names what it was reading,
// so a short buffer becomes `IKEParseError.truncated(<what>)` rather than a nil to forget.

import NIOCore

extension ByteBuffer {
    @inline(__always)
    mutating func readIKEInteger<T: FixedWidthInteger>(_ what: String, as: T.Type = T.self) throws -> T {
        guard let value = readInteger(as: T.self) else { throw IKEParseError.truncated(what) }
        return value
    }

    mutating func readIKEBytes(_ what: String, length: Int) throws -> [UInt8] {
        guard length >= 0, let bytes = readBytes(length: length) else { throw IKEParseError.truncated(what) }
        return bytes
    }

    mutating func readIKESlice(_ what: String, length: Int) throws -> ByteBuffer {
        guard length >= 0, let slice = readSlice(length: length) else { throw IKEParseError.truncated(what) }
        return slice
    }

    /// Reads every remaining octet.
    mutating func readIKERemainingBytes() -> [UInt8] {
        readBytes(length: readableBytes) ?? []
    }

    /// Throws `trailingData` unless every octet was consumed.
    func expectFullyRead(_ what: String) throws {
        if readableBytes != 0 { throw IKEParseError.trailingData(what, readableBytes) }
    }

    /// Writes a placeholder UInt16 length and returns its index, for `patchLength16`.
    mutating func reserveLength16() -> Int {
        let index = writerIndex
        writeInteger(UInt16(0))
        return index
    }

    /// Sets the UInt16 at `index` to the number of octets written since `start`.
    mutating func patchLength16(at index: Int, from start: Int) {
        setInteger(UInt16(truncatingIfNeeded: writerIndex - start), at: index)
    }
}
