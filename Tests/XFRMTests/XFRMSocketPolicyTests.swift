import CMNL
import Glibc
import XCTest
@testable import XFRM

/// The IKE sockets' bypass policies (IP_XFRM_POLICY) against the build machine's kernel,
/// which has XFRM (no ESP needed for socket policies). That they keep IKE out of a
/// transport-mode CHILD_SA between the gateways is proven in the lab (ike-psk, transport case).
final class XFRMSocketPolicyTests: XCTestCase {
    func socket(_ family: CInt) throws -> CInt {
        let fd = Glibc.socket(family, CInt(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no UDP socket of family \(family)") }
        return fd
    }

    func testTheValueIsExactlyOneUserPolicyInfo() {
        let policy = XFRMSocketPolicy.bypass(.outbound, ipv6: false)
        XCTAssertEqual(MemoryLayout<XFRMSocketPolicy>.size, MemoryLayout<xfrm_userpolicy_info>.size)
        XCTAssertEqual(policy.info.action, UInt8(XFRM_POLICY_ALLOW))
        XCTAssertEqual(policy.info.dir, UInt8(XFRM_POLICY_OUT))
        XCTAssertEqual(policy.info.sel.family, UInt16(AF_INET))
        XCTAssertEqual(XFRMSocketPolicy.bypass(.inbound, ipv6: true).info.sel.family, UInt16(AF_INET6))
        XCTAssertEqual(XFRMSocketPolicy.option(ipv6: false).name, 17, "IP_XFRM_POLICY")
        XCTAssertEqual(XFRMSocketPolicy.option(ipv6: true).name, 35, "IPV6_XFRM_POLICY")
    }

    func testTheKernelTakesBypassPoliciesForBothDirections() throws {
        let fd = try socket(AF_INET)
        defer { close(fd) }
        XCTAssertNoThrow(try XFRMSocketPolicy.apply(.bypass(.inbound, ipv6: false), to: fd, ipv6: false))
        XCTAssertNoThrow(try XFRMSocketPolicy.apply(.bypass(.outbound, ipv6: false), to: fd, ipv6: false))
    }

    func testRefusalsNameTheErrno() throws {
        // A socket policy can only be in or out: the kernel refuses fwd (xfrm_compile_policy).
        let fd = try socket(AF_INET)
        defer { close(fd) }
        XCTAssertThrowsError(try XFRMSocketPolicy.apply(.bypass(.forward, ipv6: false), to: fd, ipv6: false)) { error in
            XCTAssertEqual((error as? XFRMSocketPolicyError)?.errno, EINVAL, "\(error)")
        }
        XCTAssertThrowsError(try XFRMSocketPolicy.apply(.bypass(.inbound, ipv6: false), to: -1, ipv6: false)) { error in
            XCTAssertEqual((error as? XFRMSocketPolicyError)?.errno, EBADF)
            XCTAssertTrue("\(error)".contains("Bad file descriptor"), "\(error)")
        }
    }
}
