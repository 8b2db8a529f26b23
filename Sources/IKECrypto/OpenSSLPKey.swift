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

    /// Imports a key of `algorithm` from parameters built by `build` (OSSL_PARAM_BLD).
    static func fromData(algorithm: String, selection: Int32, build: (OpaquePointer) throws -> Void) throws -> OwnedPKey {
        let builder = try check(OSSL_PARAM_BLD_new(), "OSSL_PARAM_BLD_new")
        defer { OSSL_PARAM_BLD_free(builder) }
        try build(builder)
        let params = try check(OSSL_PARAM_BLD_to_param(builder), "OSSL_PARAM_BLD_to_param")
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
