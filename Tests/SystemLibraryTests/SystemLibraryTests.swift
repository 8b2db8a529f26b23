import CMNL
import COpenSSL
import XCTest

/// Calls into each system library for real, so a broken pkg-config or link line fails here.
final class SystemLibraryTests: XCTestCase {
    func testLibmnlOpensANetlinkSocketAndBuildsAHeader() throws {
        // mnl_socket_open(NETLINK_XFRM) needs no privileges to open, only to send.
        guard let sock = mnl_socket_open(NETLINK_XFRM) else {
            return XCTFail("mnl_socket_open(NETLINK_XFRM) failed: errno \(errno)")
        }
        defer { mnl_socket_close(sock) }
        XCTAssertGreaterThanOrEqual(mnl_socket_get_fd(sock), 0)

        var buffer = [UInt8](repeating: 0, count: 8192)
        buffer.withUnsafeMutableBytes { raw in
            let nlh = mnl_nlmsg_put_header(raw.baseAddress)!
            nlh.pointee.nlmsg_type = UInt16(XFRM_MSG_GETSA)
            mnl_attr_put_u32(nlh, 1, 0xdead_beef)
            // header (16) + attribute header (4) + u32 payload (4)
            XCTAssertEqual(nlh.pointee.nlmsg_len, 24)
        }
    }

    func testOpenSSLComputesSHA256() throws {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let input = Array("abc".utf8)
        let ok = EVP_Digest(input, input.count, &digest, &length, EVP_sha256(), nil)
        XCTAssertEqual(ok, 1)
        XCTAssertEqual(length, 32)
        // FIPS 180-2 test vector for "abc".
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertGreaterThanOrEqual(OpenSSL_version_num(), 0x3000_0000, "OpenSSL 3 is required")
    }
}
