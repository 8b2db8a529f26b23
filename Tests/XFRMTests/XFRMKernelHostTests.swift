import Glibc
import XCTest
@testable import XFRM

/// Against the build machine's kernel (XFRM netlink, no ESP): real refusals with the
/// kernel's errno and extended-ack text. The full feature set is proven in the VM lab
/// (netns-lab/scenarios/xfrm-roundtrip).
final class XFRMKernelHostTests: XCTestCase {
    let id = XFRMStateID(source: XFRMAddress("192.0.2.201")!, destination: XFRMAddress("192.0.2.202")!, spi: 0xfeed_0001)

    func testMissingSAIsESRCH() throws {
        let kernel = try XFRMKernel()
        XCTAssertThrowsError(try kernel.getState(id)) { error in
            XCTAssertEqual((error as? XFRMError)?.errno, ESRCH, "\(error)")
        }
        XCTAssertThrowsError(try kernel.deleteState(id)) { error in
            XCTAssertEqual((error as? XFRMError)?.errno, ESRCH, "\(error)")
        }
    }

    func testValidationStopsBadInputBeforeTheKernel() throws {
        let kernel = try XFRMKernel()
        let bad = XFRMAddState(id: id, aead: .aesGCM(key: XFRMKey([UInt8](repeating: 1, count: 17))))
        XCTAssertThrowsError(try kernel.addState(bad)) { error in
            guard case .invalidArgument(let text) = error as? XFRMError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("got 17"), text)
        }
    }

    func testKernelRefusalKeepsErrnoAndExtendedAckText() throws {
        let kernel = try XFRMKernel()
        kernel.validatesRequests = false
        let state = XFRMAddState(id: id, aead: XFRMAlgorithm(kind: .aead, name: "rfc4106(gcm(nosuchcipher))",
                                                            key: XFRMKey([UInt8](repeating: 1, count: 20)), bits: 128))
        do {
            try kernel.addState(state)
            try? kernel.deleteState(id)
            XCTFail("the kernel accepted an unknown AEAD")
        } catch let error as XFRMError {
            guard case .netlink(.kernel(let code, let message)) = error else { return XCTFail("\(error)") }
            XCTAssertNotEqual(code, 0)
            // Kernels since 6.2 explain XFRM refusals through extended acks.
            if let message { XCTAssertFalse(message.isEmpty) }
            XCTAssertTrue(error.description.hasPrefix("kernel error "), error.description)
        }
    }
}
