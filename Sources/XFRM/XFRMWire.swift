// Wire numbers from <linux/xfrm.h>, as open RawRepresentable structs so values this code
// does not know still round-trip.
import CMNL
import Netlink

/// An XFRM netlink message type (XFRM_MSG_*).
public struct XFRMMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let newSA = Self(rawValue: 16)
    public static let deleteSA = Self(rawValue: 17)
    public static let getSA = Self(rawValue: 18)
    public static let newPolicy = Self(rawValue: 19)
    public static let deletePolicy = Self(rawValue: 20)
    public static let getPolicy = Self(rawValue: 21)
    public static let allocateSPI = Self(rawValue: 22)
    public static let acquire = Self(rawValue: 23)
    public static let expire = Self(rawValue: 24)
    public static let updatePolicy = Self(rawValue: 25)
    public static let updateSA = Self(rawValue: 26)
    public static let policyExpire = Self(rawValue: 27)
    public static let flushSA = Self(rawValue: 28)
    public static let flushPolicy = Self(rawValue: 29)
    public static let newAsyncEvent = Self(rawValue: 30)
    public static let getAsyncEvent = Self(rawValue: 31)
    public static let report = Self(rawValue: 32)
    public static let migrate = Self(rawValue: 33)
    public static let mapping = Self(rawValue: 38)

    public var description: String {
        let names: [UInt16: String] = [
            16: "NEWSA", 17: "DELSA", 18: "GETSA", 19: "NEWPOLICY", 20: "DELPOLICY", 21: "GETPOLICY",
            22: "ALLOCSPI", 23: "ACQUIRE", 24: "EXPIRE", 25: "UPDPOLICY", 26: "UPDSA", 27: "POLEXPIRE",
            28: "FLUSHSA", 29: "FLUSHPOLICY", 30: "NEWAE", 31: "GETAE", 32: "REPORT", 33: "MIGRATE",
            38: "MAPPING",
        ]
        return "XFRM_MSG_" + (names[rawValue] ?? "\(rawValue)")
    }
}

/// An XFRM attribute type (XFRMA_*).
public struct XFRMAttributeType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let authentication = Self(rawValue: 1)       // xfrm_algo
    public static let encryption = Self(rawValue: 2)           // xfrm_algo
    public static let compression = Self(rawValue: 3)
    public static let encapsulation = Self(rawValue: 4)        // xfrm_encap_tmpl
    public static let template = Self(rawValue: 5)             // xfrm_user_tmpl[]
    public static let sa = Self(rawValue: 6)                   // xfrm_usersa_info
    public static let policy = Self(rawValue: 7)               // xfrm_userpolicy_info
    public static let lifetimeValue = Self(rawValue: 9)        // xfrm_lifetime_cur
    public static let replayValue = Self(rawValue: 10)         // xfrm_replay_state
    public static let replayThreshold = Self(rawValue: 11)     // u32
    public static let expiryTimerThreshold = Self(rawValue: 12) // u32, 100 ms units
    public static let sourceAddress = Self(rawValue: 13)       // xfrm_address_t
    public static let lastUsed = Self(rawValue: 15)            // u64
    public static let policyType = Self(rawValue: 16)
    public static let aead = Self(rawValue: 18)                // xfrm_algo_aead
    public static let authenticationTruncated = Self(rawValue: 20) // xfrm_algo_auth
    public static let mark = Self(rawValue: 21)                // xfrm_mark
    public static let tfcPadding = Self(rawValue: 22)
    public static let replayESNValue = Self(rawValue: 23)      // xfrm_replay_state_esn
    public static let saExtraFlags = Self(rawValue: 24)        // u32
    public static let proto = Self(rawValue: 25)               // u8
    public static let offloadDevice = Self(rawValue: 28)       // xfrm_user_offload
    public static let setMark = Self(rawValue: 29)             // u32
    public static let setMarkMask = Self(rawValue: 30)         // u32
    public static let interfaceID = Self(rawValue: 31)         // u32

    /// The highest type this code knows; higher types are skipped when parsing.
    public static let maxKnown: UInt16 = 32
}

/// IPsec mode (XFRM_MODE_*).
public struct XFRMMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let transport = Self(rawValue: 0)
    public static let tunnel = Self(rawValue: 1)
    public static let routeOptimization = Self(rawValue: 2)
    public static let inTrigger = Self(rawValue: 3)
    public static let beet = Self(rawValue: 4)
    public var description: String {
        switch rawValue {
        case 0: return "transport"
        case 1: return "tunnel"
        case 2: return "ro"
        case 3: return "in_trigger"
        case 4: return "beet"
        default: return "mode \(rawValue)"
        }
    }
}

/// The IPsec protocol of an SA or template (IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP).
public struct XFRMProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let esp = Self(rawValue: 50)
    public static let ah = Self(rawValue: 51)
    public static let comp = Self(rawValue: 108)
    /// IPSEC_PROTO_ANY, for flushing every protocol.
    public static let any = Self(rawValue: 255)
    public var description: String {
        switch rawValue {
        case 50: return "esp"
        case 51: return "ah"
        case 108: return "comp"
        case 255: return "any"
        default: return "proto \(rawValue)"
        }
    }
}

/// A policy direction (XFRM_POLICY_IN/OUT/FWD).
public struct XFRMPolicyDirection: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let inbound = Self(rawValue: 0)
    public static let outbound = Self(rawValue: 1)
    public static let forward = Self(rawValue: 2)
    public var description: String {
        switch rawValue {
        case 0: return "in"
        case 1: return "out"
        case 2: return "fwd"
        default: return "dir \(rawValue)"
        }
    }
}

/// A policy action (XFRM_POLICY_ALLOW / BLOCK).
public struct XFRMPolicyAction: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let allow = Self(rawValue: 0)
    public static let block = Self(rawValue: 1)
}

/// XFRM multicast groups (XFRMNLGRP_*).
public struct XFRMGroup: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let acquire = Self(rawValue: 1)
    public static let expire = Self(rawValue: 2)
    public static let sa = Self(rawValue: 3)
    public static let policy = Self(rawValue: 4)
    public static let asyncEvents = Self(rawValue: 5)
    public static let report = Self(rawValue: 6)
    public static let migrate = Self(rawValue: 7)
    public static let mapping = Self(rawValue: 8)
}

/// SA flags in xfrm_usersa_info.flags (XFRM_STATE_*).
public struct XFRMStateFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let noECN = Self(rawValue: 1)
    public static let decapDSCP = Self(rawValue: 2)
    public static let noPMTUDiscovery = Self(rawValue: 4)
    public static let wildcardReceive = Self(rawValue: 8)
    public static let icmp = Self(rawValue: 16)
    public static let addressFamilyUnspecified = Self(rawValue: 32)
    public static let align4 = Self(rawValue: 64)
    public static let extendedSequenceNumbers = Self(rawValue: 128)
}

/// Attribute policy for XFRM messages: minimum lengths of the attributes this code reads.
extension NetlinkAttributePolicyXFRM {
    static let xfrm = NetlinkAttributePolicy(maxType: XFRMAttributeType.maxKnown, minimumLengths: [
        XFRMAttributeType.authentication.rawValue: MemoryLayout<xfrm_algo>.size,
        XFRMAttributeType.encryption.rawValue: MemoryLayout<xfrm_algo>.size,
        XFRMAttributeType.encapsulation.rawValue: MemoryLayout<xfrm_encap_tmpl>.size,
        XFRMAttributeType.sa.rawValue: MemoryLayout<xfrm_usersa_info>.size,
        XFRMAttributeType.policy.rawValue: MemoryLayout<xfrm_userpolicy_info>.size,
        XFRMAttributeType.lifetimeValue.rawValue: MemoryLayout<xfrm_lifetime_cur>.size,
        XFRMAttributeType.replayValue.rawValue: MemoryLayout<xfrm_replay_state>.size,
        XFRMAttributeType.replayThreshold.rawValue: 4,
        XFRMAttributeType.expiryTimerThreshold.rawValue: 4,
        XFRMAttributeType.sourceAddress.rawValue: 16,
        XFRMAttributeType.lastUsed.rawValue: 8,
        XFRMAttributeType.aead.rawValue: MemoryLayout<xfrm_algo_aead>.size,
        XFRMAttributeType.authenticationTruncated.rawValue: MemoryLayout<xfrm_algo_auth>.size,
        XFRMAttributeType.mark.rawValue: MemoryLayout<xfrm_mark>.size,
        XFRMAttributeType.replayESNValue.rawValue: MemoryLayout<xfrm_replay_state_esn>.size,
        XFRMAttributeType.saExtraFlags.rawValue: 4,
        XFRMAttributeType.offloadDevice.rawValue: MemoryLayout<xfrm_user_offload>.size,
        XFRMAttributeType.interfaceID.rawValue: 4,
    ])
}

/// Namespace for the XFRM attribute policy.
enum NetlinkAttributePolicyXFRM {}
