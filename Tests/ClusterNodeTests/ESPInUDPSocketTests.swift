import Cluster
import Glibc
import XCTest
@testable import ClusterNode

/// NAT-T on a target: which SAs need a UDP_ENCAP socket, and the socket itself (a real
/// one on loopback: the option is read back from the kernel).
final class ESPInUDPSocketTests: XCTestCase {
    func testOnlyInboundSAsWithEncapsulationNeedASocketOnTheirLocalPort() {
        var inbound = testSA(1, spi: 0xc200_0001)
        XCTAssertNil(XFRMAgentKernel.encapSocketKey(for: inbound), "no NAT: no socket")
        // The agent's inbound encap: source = the NAT's port, destination = our 4500.
        inbound.encapsulation = UDPEncapsulation(sourcePort: 31_337, destinationPort: 4500)
        let key = XFRMAgentKernel.encapSocketKey(for: inbound)
        XCTAssertEqual(key?.address, IPAddress.v4(192, 0, 2, 100), "the SA's destination, the DVIPA")
        XCTAssertEqual(key?.port, 4500)
        var outbound = testSA(2, spi: 0xc200_0002, direction: .outbound)
        outbound.encapsulation = UDPEncapsulation(sourcePort: 4500, destinationPort: 31_337)
        XCTAssertNil(XFRMAgentKernel.encapSocketKey(for: outbound), "the kernel encapsulates output from the state alone")
        let state = try? XFRMAgentKernel.state(for: inbound, outputSequence: nil)
        XCTAssertEqual(state?.encap?.sourcePort, 31_337)
        XCTAssertEqual(state?.encap?.destinationPort, 4500)
    }

    func testTheSocketCarriesUDPEncapESPInUDPAndASecondOneOnThePortIsAClearError() throws {
        for address in [IPAddress.v4(127, 0, 0, 1), try IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1])] {
            let first: ESPInUDPSocket
            do {
                first = try ESPInUDPSocket(address: address, port: 0)
            } catch let error as ESPInUDPSocketError where !address.isIPv4 && error.code == EADDRNOTAVAIL {
                continue  // no ::1 on this host
            }
            defer { first.close() }
            var value: CInt = -1
            var length = socklen_t(MemoryLayout<CInt>.size)
            XCTAssertEqual(getsockopt(first.descriptor, ESPInUDPSocket.udpLevel, ESPInUDPSocket.encapOption, &value, &length), 0)
            XCTAssertEqual(value, ESPInUDPSocket.espInUDP, "UDP_ENCAP_ESPINUDP (2) on \(address)")
            let port = Self.boundPort(first.descriptor, ipv4: address.isIPv4)
            XCTAssertGreaterThan(port, 0)
            XCTAssertThrowsError(try ESPInUDPSocket(address: address, port: port)) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains(":\(port)") && text.contains("bind") && text.contains("in use"), text)
            }
            first.close()
            XCTAssertEqual(first.descriptor, -1)
            first.close()  // twice is fine
        }
    }

    private static func boundPort(_ fd: Int32, ipv4: Bool) -> UInt16 {
        var storage = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return 0 }
        if ipv4 {
            return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        }
        return UInt16(bigEndian: storage.sin6_port)
    }
}
