import CMNL
import XCTest
@testable import XFRM

/// The C structs as Swift imports them must have the kernel's x86_64 sizes; iproute2's
/// golden bytes (XFRMGoldenTests) settle the field offsets.
final class XFRMLayoutTests: XCTestCase {
    func testStructSizesMatchTheKernelABI() {
        XCTAssertEqual(MemoryLayout<xfrm_selector>.size, 56)
        XCTAssertEqual(MemoryLayout<xfrm_id>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_lifetime_cfg>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_lifetime_cur>.size, 32)
        XCTAssertEqual(MemoryLayout<xfrm_usersa_info>.size, 224)
        XCTAssertEqual(MemoryLayout<xfrm_usersa_id>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_userspi_info>.size, 232)
        XCTAssertEqual(MemoryLayout<xfrm_userpolicy_info>.size, 168)
        XCTAssertEqual(MemoryLayout<xfrm_userpolicy_id>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_user_tmpl>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_algo>.size, 68)
        XCTAssertEqual(MemoryLayout<xfrm_algo_aead>.size, 72)
        XCTAssertEqual(MemoryLayout<xfrm_algo_auth>.size, 72)
        XCTAssertEqual(MemoryLayout<xfrm_replay_state>.size, 12)
        XCTAssertEqual(MemoryLayout<xfrm_replay_state_esn>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_encap_tmpl>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_aevent_id>.size, 48)
        XCTAssertEqual(MemoryLayout<xfrm_user_expire>.size, 232)
        XCTAssertEqual(MemoryLayout<xfrm_user_acquire>.size, 280)
        XCTAssertEqual(MemoryLayout<xfrm_user_offload>.size, 8)
        XCTAssertEqual(MemoryLayout<xfrm_mark>.size, 8)
    }
}
