/// vipsec's version, printed by `vipsec --version`.
enum VipsecVersion {
    static let string = "0.1.0"
}
