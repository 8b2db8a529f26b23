import LabToolSupport

/// 0x-prefixed hex or decimal, at most 32 bits (SPIs and marks in `K=V` lists).
func parseNumber(_ text: some StringProtocol) -> UInt32? {
    text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
}
