import XCTest
import IKEv2
import XFRM
import Logging
@testable import IKEDaemon

/// A policy leaves the kernel with the last CHILD_SA that uses it: two peers' CHILD_SAs of one
/// `%any` child share a reqid but not their policies; a rekeyed CHILD_SA and its successor
/// share the same ones.
final class PolicyUsersTests: XCTestCase {
    /// The policies (ids) the installer makes for a CHILD_SA of reqid 7 to a peer whose inner
    /// address is 10.128.0.`peer`.
    func policies(peer: UInt8, spi: UInt32) throws -> [XFRMPolicyID] {
        var child = KernelChildSAInstallerTests.child()
        child.remoteTrafficSelectors = [.ipv4([10, 128, 0, peer], [10, 128, 0, peer])]
        child.inbound.spi = spi
        child.outbound.spi = spi + 1
        return try KernelChildSAInstaller(kernel: try XFRMKernel(), logger: Logger(label: "test"))
            .policies(child).map(\.id)
    }

    func testAnotherPeersCHILDSAOfTheSameReqidDoesNotKeepThePoliciesOfAGoneOne() throws {
        var users = PolicyUsers()
        let a = try policies(peer: 1, spi: 0x100), b = try policies(peer: 2, spi: 0x200)
        XCTAssertEqual(a.count, 3)
        XCTAssertTrue(Set(a).isDisjoint(with: b), "own selectors, though the same reqid")
        users.add(a)
        users.add(b)
        XCTAssertEqual(users.release(a), a, "peer 1 gone: its out, in and fwd policies go (they used to stay while peer 2 was up)")
        XCTAssertEqual(users.count, 3)
        XCTAssertEqual(users.release(b), b)
        XCTAssertEqual(users.count, 0)
    }

    func testARekeyedCHILDSAsSuccessorKeepsTheSamePolicies() throws {
        var users = PolicyUsers()
        let old = try policies(peer: 1, spi: 0x100), new = try policies(peer: 1, spi: 0x300)
        XCTAssertEqual(old, new, "same selectors and reqid: the same policies")
        users.add(old)
        users.add(new)
        XCTAssertEqual(users.users(of: old[0]), 2)
        XCTAssertEqual(users.release(old), [], "the old CHILD_SA goes, the successor still uses them")
        XCTAssertEqual(users.release(new), new)
    }

    func testReleasingWhatIsNotInstalledChangesNothing() throws {
        var users = PolicyUsers()
        let a = try policies(peer: 1, spi: 0x100)
        users.add(a)
        XCTAssertEqual(users.release(try policies(peer: 9, spi: 0x900)), [])
        XCTAssertEqual(users.users(of: a[1]), 1)
        XCTAssertEqual(users.release(a + a), a, "each policy once")
        XCTAssertEqual(users.release(a), [], "a second delete of the same CHILD_SA")
    }
}
