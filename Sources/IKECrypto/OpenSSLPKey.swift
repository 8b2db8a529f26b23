// EVP_PKEY plumbing shared by the key exchanges: an owning wrapper, key generation by
// algorithm/group name, import from OSSL_PARAMs, and EVP_PKEY_derive.

import COpenSSL
import IKEv2

/// Owns one EVP_PKEY and frees it on deinit.
final class OwnedPKey {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    /// Generates a key pair of `algorithm` ("X25519", "EC", "DH") in `group` (nil for X25519).
    static func generate(algorithm: String, group: String?) throws -> OwnedPKey {
        let context = try check(EVP_PKEY_CTX_new_from_name(nil, algorithm, nil), "EVP_PKEY_CTX_new_from_name")
        defer { EVP_PKEY_CTX_free(context) }
        try check(EVP_PKEY_keygen_init(context), "EVP_PKEY_keygen_init")
        if let group { try check(EVP_PKEY_CTX_set_group_name(context, group), "EVP_PKEY_CTX_set_group_name") }
        var key: OpaquePointer?
        try check(EVP_PKEY_keygen(context, &key), "EVP_PKEY_keygen")
        return OwnedPKey(taking: try check(key, "EVP_PKEY_keygen"))
    }

    /// Imports a key of `algorithm` from the parameters `build` pushes.
    static func fromData(algorithm: String, selection: Int32, build: (ParameterBuilder) throws -> Void) throws -> OwnedPKey {
        let builder = try ParameterBuilder()
        try build(builder)
        let params = try check(OSSL_PARAM_BLD_to_param(builder.pointer), "OSSL_PARAM_BLD_to_param")
        defer { OSSL_PARAM_free(params) }
        let context = try check(EVP_PKEY_CTX_new_from_name(nil, algorithm, nil), "EVP_PKEY_CTX_new_from_name")
        defer { EVP_PKEY_CTX_free(context) }
        try check(EVP_PKEY_fromdata_init(context), "EVP_PKEY_fromdata_init")
        var key: OpaquePointer?
        try check(EVP_PKEY_fromdata(context, &key, selection, params), "EVP_PKEY_fromdata")
        return OwnedPKey(taking: try check(key, "EVP_PKEY_fromdata"))
    }

    /// Runs OpenSSL's public-key validation (range, on-curve, subgroup where known).
    func publicKeyIsValid() -> Bool {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pointer, nil) else { return false }
        defer { EVP_PKEY_CTX_free(context) }
        let valid = EVP_PKEY_public_check(context) == 1
        ERR_clear_error()
        return valid
    }

    /// The octet-string parameter `name` (e.g. "pub"), at most `capacity` octets.
    func octetStringParameter(_ name: String, capacity: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: capacity)
        var length = 0
        try check(EVP_PKEY_get_octet_string_param(pointer, name, &bytes, capacity, &length), "EVP_PKEY_get_octet_string_param(\(name))")
        return Array(bytes.prefix(length))
    }

    /// The BIGNUM parameter `name` (e.g. "pub", "p") as big-endian octets left-padded to `length`.
    func bigNumberParameter(_ name: String, length: Int) throws -> [UInt8] {
        var number: OpaquePointer?
        try check(EVP_PKEY_get_bn_param(pointer, name, &number), "EVP_PKEY_get_bn_param(\(name))")
        guard let number else { throw openSSLError("EVP_PKEY_get_bn_param(\(name))") }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: length)
        guard BN_bn2binpad(number, &bytes, Int32(length)) == Int32(length) else {
            throw openSSLError("BN_bn2binpad(\(name))")
        }
        return bytes
    }

    /// EVP_PKEY_derive(self, peer): the raw shared secret (variable length for DH).
    /// `validatePeer` makes OpenSSL check the peer key as well (EVP_PKEY_derive_set_peer_ex).
    func derive(peer: OwnedPKey, validatePeer: Bool) throws -> SecretBytes {
        let context = try check(EVP_PKEY_CTX_new_from_pkey(nil, pointer, nil), "EVP_PKEY_CTX_new_from_pkey")
        defer { EVP_PKEY_CTX_free(context) }
        try check(EVP_PKEY_derive_init(context), "EVP_PKEY_derive_init")
        try check(EVP_PKEY_derive_set_peer_ex(context, peer.pointer, validatePeer ? 1 : 0), "EVP_PKEY_derive_set_peer")
        var length = 0
        try check(EVP_PKEY_derive(context, nil, &length), "EVP_PKEY_derive")
        var produced = 0
        var status: Int32 = 0
        let secret = SecretBytes(count: length) { out in
            produced = length
            status = EVP_PKEY_derive(context, out.baseAddress?.assumingMemoryBound(to: UInt8.self), &produced)
        }
        try check(status, "EVP_PKEY_derive")
        return produced == length ? secret : secret.subrange(offset: 0, count: produced)
    }
}

/// An OSSL_PARAM_BLD that keeps the memory of every pushed value alive until it is freed:
/// OSSL_PARAM_BLD_push_utf8_string / _octet_string / _BN only store pointers, which
/// OSSL_PARAM_BLD_to_param reads later. Buffers are wiped and BIGNUMs clear-freed on deinit.
final class ParameterBuilder {
    let pointer: OpaquePointer
    private var buffers: [UnsafeMutableRawBufferPointer] = []
    private var numbers: [OpaquePointer] = []

    init() throws { pointer = try check(OSSL_PARAM_BLD_new(), "OSSL_PARAM_BLD_new") }

    deinit {
        OSSL_PARAM_BLD_free(pointer)
        for buffer in buffers {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.deallocate()
        }
        for number in numbers { BN_clear_free(number) }
    }

    private func retain(_ bytes: some ContiguousOctets, extraZero: Bool) -> UnsafeMutableRawBufferPointer {
        let count = bytes.withUnsafeBytes { $0.count }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count + (extraZero ? 1 : 0) + 1, alignment: 1)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, count > 0 { buffer.baseAddress!.copyMemory(from: base, byteCount: count) }
        }
        buffers.append(buffer)
        return buffer
    }

    func pushUTF8String(_ key: StaticString, _ value: String) throws {
        let buffer = retain(Array(value.utf8), extraZero: true)
        try check(OSSL_PARAM_BLD_push_utf8_string(pointer, retainedKey(key), buffer.baseAddress!.assumingMemoryBound(to: CChar.self), 0),
                  "OSSL_PARAM_BLD_push_utf8_string")
    }

    func pushOctetString(_ key: StaticString, _ value: some ContiguousOctets) throws {
        let count = value.withUnsafeBytes { $0.count }
        let buffer = retain(value, extraZero: false)
        try check(OSSL_PARAM_BLD_push_octet_string(pointer, retainedKey(key), buffer.baseAddress!, count),
                  "OSSL_PARAM_BLD_push_octet_string")
    }

    /// Pushes a big-endian unsigned integer as a BIGNUM.
    func pushBigNumber(_ key: StaticString, _ value: some ContiguousOctets) throws {
        let number = try makeBIGNUM(value)
        numbers.append(number)
        try check(OSSL_PARAM_BLD_push_BN(pointer, retainedKey(key), number), "OSSL_PARAM_BLD_push_BN")
    }

    /// Parameter names are static C strings, valid for the program's lifetime.
    private func retainedKey(_ key: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(key.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
