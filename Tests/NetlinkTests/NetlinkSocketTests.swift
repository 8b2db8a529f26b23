import CMNL
import Glibc
import XCTest
@testable import Netlink

/// Against the build machine's own kernel: XFRM netlink is there (no ESP), which is enough
/// to see real acknowledgements, real errors with extended-ack text and a real dump.
/// Only read-only requests or requests the kernel refuses: nothing is changed.
final class NetlinkSocketTests: XCTestCase {
    func testKernelErrorForAMissingSAKeepsErrno() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        XCTAssertGreaterThan(socket.portID, 0)
        let message = NetlinkMessageBuilder(type: UInt16(XFRM_MSG_GETSA), capacity: 128)
        try message.appendHeader(xfrm_usersa_id.self) { id in
            id.daddr.a4 = UInt32(0x0a00_00fe).bigEndian
            id.spi = UInt32(0xdead_0001).bigEndian
            id.family = UInt16(AF_INET)
            id.proto = UInt8(IPPROTO_ESP)
        }
        XCTAssertThrowsError(try socket.request(message) { _ in () }) { error in
            guard let error = error as? NetlinkError else { return XCTFail("\(error)") }
            XCTAssertTrue([ESRCH, EPERM].contains(error.errno ?? 0), "\(error)")
        }
        XCTAssertEqual(socket.droppedMessages, 0)
    }

    func testDumpEndsAtDone() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        var seen = 0
        do {
            try socket.dump(NetlinkMessageBuilder(type: UInt16(XFRM_MSG_GETPOLICY), capacity: 64)) { message in
                XCTAssertEqual(message.type, UInt16(XFRM_MSG_NEWPOLICY))
                seen += 1
            }
        } catch let error as NetlinkError where error.errno == EPERM {
            throw XCTSkip("needs CAP_NET_ADMIN")
        }
        XCTAssertGreaterThanOrEqual(seen, 0)
        // The socket stays usable after a dump: a second request gets its own answer.
        try socket.dump(NetlinkMessageBuilder(type: UInt16(XFRM_MSG_GETSA), capacity: 64)) { _ in }
    }

    func testReceiveTimesOutWhenNothingArrives() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        XCTAssertThrowsError(try socket.receive(timeout: .milliseconds(50))) {
            XCTAssertEqual($0 as? NetlinkError, .timeout)
        }
    }

    func testBatchReportsEachMessagesOwnResult() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        // Two deletes of SAs that do not exist: each gets its own ESRCH (EPERM unprivileged).
        let messages = (0..<2).map { index -> NetlinkMessageBuilder in
            let message = NetlinkMessageBuilder(type: UInt16(XFRM_MSG_DELSA), capacity: 128)
            try? message.appendHeader(xfrm_usersa_id.self) { id in
                id.daddr.a4 = UInt32(0x0a00_00fe).bigEndian
                id.spi = UInt32(0xdead_0100 + index).bigEndian
                id.family = UInt16(AF_INET)
                id.proto = UInt8(IPPROTO_ESP)
            }
            return message
        }
        let results = try socket.acknowledgedBatch(messages)
        XCTAssertEqual(results.count, 2)
        for result in results { XCTAssertTrue([ESRCH, EPERM].contains(result?.errno ?? 0), "\(String(describing: result))") }
    }

    /// 2,000 requests: many datagrams, every acknowledgement collected, none lost to ENOBUFS.
    func testLargeBatchKeepsEveryAcknowledgement() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        let messages = (0..<2000).map { index -> NetlinkMessageBuilder in
            let message = NetlinkMessageBuilder(type: UInt16(XFRM_MSG_DELSA), capacity: 64)
            try? message.appendHeader(xfrm_usersa_id.self) { id in
                id.daddr.a4 = UInt32(0x0a00_00fd).bigEndian
                id.spi = UInt32(0xdead_1000 + index).bigEndian
                id.family = UInt16(AF_INET)
                id.proto = UInt8(IPPROTO_ESP)
            }
            return message
        }
        let results = try socket.acknowledgedBatch(messages)
        XCTAssertEqual(results.count, 2000)
        XCTAssertEqual(results.filter { [ESRCH, EPERM].contains($0?.errno ?? 0) }.count, 2000)
        XCTAssertEqual(socket.droppedMessages, 0)
    }

    func testMulticastJoinOfAnXFRMGroupWorks() throws {
        let socket = try NetlinkSocket(family: NETLINK_XFRM)
        try socket.join(group: 2)  // XFRMNLGRP_EXPIRE
        XCTAssertThrowsError(try socket.join(group: 9999))
    }
    // MARK: named network namespaces (`ip -n NAME`)

    func testUnknownNetworkNamespaceNamesItsPath() throws {
        let name = "vipsec-test-no-such-ns-\(getpid())"
        XCTAssertThrowsError(try NetlinkSocket(family: NETLINK_XFRM, networkNamespace: name)) { error in
            guard case .system(let call, let code)? = error as? NetlinkError else { return XCTFail("\(error)") }
            XCTAssertEqual(call, "open(/run/netns/\(name))")
            XCTAssertEqual(code, ENOENT)
        }
    }

    func testNetworkNamespaceNameThatIsAPathIsRefused() throws {
        for bad in ["", "a/b", "..", "."] {
            XCTAssertThrowsError(try NetworkNamespace.open(bad) { XCTFail("body ran for '\(bad)'") }) { error in
                XCTAssertEqual((error as? NetlinkError)?.errno, EINVAL, "\(bad): \(error)")
                XCTAssertTrue("\(error)".contains("'\(bad)'"), "\(error)")
            }
        }
    }

    func testFailedNamespaceSwitchLeavesTheThreadWhereItWas() throws {
        func currentNamespace() throws -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            let count = readlink("/proc/thread-self/ns/net", &buffer, buffer.count - 1)
            guard count > 0 else { throw XCTSkip("no /proc/thread-self/ns/net") }
            return String(cString: buffer)
        }
        let before = try currentNamespace()
        _ = try? NetworkNamespace.open("vipsec-test-no-such-ns") { XCTFail("body ran") }
        XCTAssertEqual(try currentNamespace(), before)
    }
}
