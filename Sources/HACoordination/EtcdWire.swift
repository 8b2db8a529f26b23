// The JSON bodies of etcd's v3 gateway (etcd >= 3.4: POST /v3/...), as far as vipsec uses
// them. proto3 JSON: bytes are base64, int64s are strings, fields at their zero value are
// left out (a failed txn has no "succeeded", a keepalive of an unknown lease no "TTL").
import Foundation

enum EtcdWire {
    struct Header: Codable {
        var revision: String?
    }

    struct KeyValue: Codable {
        var key: String?
        var value: String?
        var create_revision: String?
        var mod_revision: String?
        var version: String?
        var lease: String?
    }

    struct RangeRequest: Codable {
        var key: String
        var range_end: String?
        var limit: String?
    }

    struct RangeResponse: Codable {
        var header: Header?
        var kvs: [KeyValue]?
        var count: String?
    }

    struct PutRequest: Codable {
        var key: String
        var value: String
        var lease: String?
    }

    struct DeleteRangeRequest: Codable {
        var key: String
    }

    struct Compare: Codable {
        var target: String
        var result: String
        var key: String
        var create_revision: String?
        var mod_revision: String?
        var value: String?
    }

    struct RequestOp: Codable {
        var request_range: RangeRequest?
        var request_put: PutRequest?
        var request_delete_range: DeleteRangeRequest?
    }

    struct ResponseOp: Codable {
        var response_range: RangeResponse?
        var response_put: Empty?
        var response_delete_range: DeleteRangeResponse?
    }

    struct Empty: Codable {}

    struct DeleteRangeResponse: Codable {
        var deleted: String?
    }

    struct TxnRequest: Codable {
        var compare: [Compare]
        var success: [RequestOp]
        var failure: [RequestOp]
    }

    struct TxnResponse: Codable {
        var header: Header?
        var succeeded: Bool?
        var responses: [ResponseOp]?
    }

    struct LeaseGrantRequest: Codable {
        var TTL: String
        var ID: String
    }

    struct LeaseGrantResponse: Codable {
        var header: Header?
        var ID: String?
        var TTL: String?
        var error: String?
    }

    struct LeaseIDRequest: Codable {
        var ID: String
    }

    /// `/v3/lease/keepalive` is a stream in gRPC; the gateway answers one request body with
    /// one `{"result": ...}`.
    struct LeaseKeepAliveResponse: Codable {
        struct Result: Codable {
            var header: Header?
            var ID: String?
            var TTL: String?
        }
        var result: Result?
        var error: ErrorBody?
    }

    /// What the gateway sends with a non-2xx status (and inside a stream's `error`).
    struct ErrorBody: Codable {
        var error: String?
        var message: String?
        var code: Int?
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func bytes(_ base64: String?) -> [UInt8]? {
        guard let base64 else { return [] }
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }
    static func int64(_ text: String?) -> Int64? {
        guard let text else { return 0 }
        return Int64(text)
    }
}
