// A small etcd v3 client over etcd's JSON gateway (POST /v3/kv/range, /v3/kv/txn,
// /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke), with async-http-client and mutual
// TLS (swift-nio-ssl). It tries the endpoints in turn: the one that answered last goes
// first; an endpoint that cannot be reached (connect, TLS, timeout) hands over to the next.
// An answer from etcd itself (an error status with etcd's JSON error) is final: another
// member would answer the same.
import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// What went wrong talking to etcd. Never holds a value, only keys' names and reasons.
public enum EtcdError: Error, Equatable, CustomStringConvertible {
    /// No endpoint answered; each endpoint with its reason.
    case unreachable([EndpointFailure])
    /// etcd answered with an error (gRPC code and message, e.g. 5 "requested lease not found").
    case server(endpoint: String, status: Int, code: Int?, message: String)
    /// An answer that is not what the gateway sends.
    case malformedResponse(endpoint: String, reason: String)
    /// The TLS files could not be used.
    case credentials(path: String, reason: String)

    public struct EndpointFailure: Equatable, Sendable {
        public var endpoint: String
        public var reason: String
    }

    public var description: String {
        switch self {
        case .unreachable(let failures):
            return "etcd unreachable: " + failures.map { "\($0.endpoint): \($0.reason)" }.joined(separator: "; ")
        case .server(let endpoint, let status, let code, let message):
            return "etcd \(endpoint) answered HTTP \(status)\(code.map { " (code \($0))" } ?? ""): \(message)"
        case .malformedResponse(let endpoint, let reason):
            return "etcd \(endpoint): malformed answer: \(reason)"
        case .credentials(let path, let reason):
            return "etcd TLS: \(path): \(reason)"
        }
    }
}

/// A key as etcd holds it.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    /// 0: no lease.
    public var lease: Int64
}

/// One compare of a transaction (`==`, except `valueBelow`).
public struct EtcdCompare: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// The revision that created the key; 0 when it does not exist.
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        /// The key's value is below these octets (compared as octet strings); false when
        /// the key does not exist (etcd fails a value compare on a missing key).
        case valueBelow([UInt8])
    }
    public var key: String
    public var target: Target

    public init(key: String, _ target: Target) {
        self.key = key
        self.target = target
    }
}

/// One operation of a transaction.
public enum EtcdOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], lease: Int64?)
    case range(key: String)
    case delete(key: String)
}

public struct EtcdTxnResult: Sendable, Equatable {
    public var succeeded: Bool
    /// The store's revision after the transaction (a put's own revision when it succeeded).
    public var revision: Int64
    /// The keys each range operation of the branch that ran found, in order.
    public var ranges: [[EtcdKeyValue]]
}

public struct EtcdRangeResult: Sendable, Equatable {
    public var revision: Int64
    public var keyValues: [EtcdKeyValue]
}

/// The TLS files: etcd's CA (the HA CA) and this node's client certificate and key.
public struct EtcdTLSFiles: Sendable, Equatable {
    public var caPath: String
    public var certificatePath: String
    public var keyPath: String

    public init(caPath: String, certificatePath: String, keyPath: String) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

public final class EtcdClient: Sendable {
    public struct Configuration: Sendable {
        /// `https://10.0.0.31:2379` (or `http://` without TLS, tests only).
        public var endpoints: [String]
        public var tls: EtcdTLSFiles?
        /// Per request and endpoint: connect + answer.
        public var requestTimeout: Duration

        public init(endpoints: [String], tls: EtcdTLSFiles?, requestTimeout: Duration = .seconds(1)) {
            self.endpoints = endpoints
            self.tls = tls
            self.requestTimeout = requestTimeout
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient
    /// The endpoint tried first (the last one that answered).
    private let preferred = NIOLockedValueBox(0)

    public init(_ configuration: Configuration) throws {
        precondition(!configuration.endpoints.isEmpty, "etcd needs at least one endpoint")
        self.configuration = configuration
        let timeout = Self.timeAmount(configuration.requestTimeout)
        var http = HTTPClient.Configuration(tlsConfiguration: try configuration.tls.map(Self.tlsConfiguration),
                                            timeout: .init(connect: timeout, read: timeout))
        http.httpVersion = .http1Only
        http.connectionPool = .init(idleTimeout: .seconds(30))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    static func tlsConfiguration(_ files: EtcdTLSFiles) throws -> TLSConfiguration {
        func load<T>(_ path: String, _ what: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw EtcdError.credentials(path: path, reason: "not a PEM \(what) (\(error))") }
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try load(files.caPath, "certificate") { try NIOSSLCertificate.fromPEMFile(files.caPath) })
        tls.certificateChain = try load(files.certificatePath, "certificate") {
            try NIOSSLCertificate.fromPEMFile(files.certificatePath).map { .certificate($0) }
        }
        tls.privateKey = .privateKey(try load(files.keyPath, "private key") { try NIOSSLPrivateKey(file: files.keyPath, format: .pem) })
        tls.minimumTLSVersion = .tlsv12
        return tls
    }

    // MARK: KV

    /// The key (or with `prefix`, every key starting with it).
    public func range(_ key: String, prefix: Bool = false) async throws -> EtcdRangeResult {
        let request = EtcdWire.RangeRequest(key: EtcdWire.base64(key),
                                            range_end: prefix ? EtcdWire.base64(Self.prefixEnd(key)) : nil)
        let (endpoint, response) = try await post("/v3/kv/range", request, as: EtcdWire.RangeResponse.self)
        return EtcdRangeResult(revision: try Self.revision(response.header, endpoint),
                               keyValues: try (response.kvs ?? []).map { try Self.keyValue($0, endpoint) })
    }

    public func txn(compare: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation] = []) async throws -> EtcdTxnResult {
        let request = EtcdWire.TxnRequest(compare: compare.map(Self.wire), success: success.map(Self.wire), failure: failure.map(Self.wire))
        let (endpoint, response) = try await post("/v3/kv/txn", request, as: EtcdWire.TxnResponse.self)
        let ranges = try (response.responses ?? []).compactMap { op -> [EtcdKeyValue]? in
            guard let range = op.response_range else { return nil }
            return try (range.kvs ?? []).map { try Self.keyValue($0, endpoint) }
        }
        return EtcdTxnResult(succeeded: response.succeeded ?? false, revision: try Self.revision(response.header, endpoint), ranges: ranges)
    }

    /// A put that only happens while `leaderKey` is still the one created at `term`: every
    /// write of the active goes through here. `succeeded == false`: fenced (deposed).
    public func guardedPut(_ key: String, value: [UInt8], leaderKey: String, term: Int64) async throws -> EtcdTxnResult {
        try await txn(compare: [EtcdCompare(key: leaderKey, .createRevision(term))],
                      success: [.put(key: key, value: value, lease: nil)])
    }

    // MARK: Leases

    /// A new lease; etcd may raise a short TTL (to 1.5 x its election timeout).
    public func leaseGrant(ttlSeconds: Int64) async throws -> (id: Int64, ttlSeconds: Int64) {
        let (endpoint, response) = try await post("/v3/lease/grant", EtcdWire.LeaseGrantRequest(TTL: String(ttlSeconds), ID: "0"),
                                                  as: EtcdWire.LeaseGrantResponse.self)
        if let error = response.error, !error.isEmpty {
            throw EtcdError.server(endpoint: endpoint, status: 200, code: nil, message: error)
        }
        guard let id = EtcdWire.int64(response.ID), id != 0, let ttl = EtcdWire.int64(response.TTL) else {
            throw EtcdError.malformedResponse(endpoint: endpoint, reason: "lease grant without ID or TTL")
        }
        return (id, ttl)
    }

    /// One keepalive: the lease's TTL as etcd restarted it; 0 when etcd no longer knows it.
    public func leaseKeepAlive(_ id: Int64) async throws -> Int64 {
        let (endpoint, response) = try await post("/v3/lease/keepalive", EtcdWire.LeaseIDRequest(ID: String(id)),
                                                  as: EtcdWire.LeaseKeepAliveResponse.self)
        if let error = response.error {
            throw EtcdError.server(endpoint: endpoint, status: 200, code: error.code, message: error.message ?? error.error ?? "")
        }
        guard let result = response.result, let ttl = EtcdWire.int64(result.TTL) else {
            throw EtcdError.malformedResponse(endpoint: endpoint, reason: "keepalive without result")
        }
        return ttl
    }

    /// Revokes the lease (its keys go with it). An unknown lease is not an error.
    public func leaseRevoke(_ id: Int64) async throws {
        do {
            _ = try await post("/v3/lease/revoke", EtcdWire.LeaseIDRequest(ID: String(id)), as: EtcdWire.Empty.self)
        } catch EtcdError.server(_, _, let code, _) where code == 5 {
            return   // NOT_FOUND: already gone
        }
    }

    // MARK: Transport

    private func post<Request: Encodable, Response: Decodable>(_ path: String, _ body: Request,
                                                               as: Response.Type) async throws -> (String, Response) {
        let bytes = try JSONEncoder().encode(body)
        let endpoints = configuration.endpoints
        let first = preferred.withLockedValue { $0 }
        var failures: [EtcdError.EndpointFailure] = []
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            let endpoint = endpoints[index]
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
            let response: HTTPClientResponse
            let answer: ByteBuffer
            do {
                response = try await http.execute(request, timeout: Self.timeAmount(configuration.requestTimeout))
                answer = try await response.body.collect(upTo: 4 << 20)
            } catch {
                failures.append(.init(endpoint: endpoint, reason: Self.reason(error)))
                continue
            }
            preferred.withLockedValue { $0 = index }
            let data = Data(answer.readableBytesView)
            guard response.status == .ok else {
                let error = try? JSONDecoder().decode(EtcdWire.ErrorBody.self, from: data)
                throw EtcdError.server(endpoint: endpoint, status: Int(response.status.code), code: error?.code,
                                       message: error?.message ?? error?.error ?? response.status.reasonPhrase)
            }
            do {
                return (endpoint, try JSONDecoder().decode(Response.self, from: data))
            } catch {
                throw EtcdError.malformedResponse(endpoint: endpoint, reason: "\(error)")
            }
        }
        throw EtcdError.unreachable(failures)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    static func reason(_ error: Error) -> String {
        if let ssl = error as? NIOSSLError { return "TLS: \(ssl)" }
        if let http = error as? HTTPClientError {
            return http == .deadlineExceeded || http == .readTimeout || http == .connectTimeout ? "timed out" : "\(http)"
        }
        return "\(error)"
    }

    /// The range end that makes `key` a prefix: the key with its last byte below 0xff
    /// incremented (etcd's clientv3.GetPrefixRangeEnd).
    static func prefixEnd(_ key: String) -> [UInt8] {
        var bytes = Array(key.utf8)
        while let last = bytes.last {
            if last < 0xff { bytes[bytes.count - 1] = last + 1; return bytes }
            bytes.removeLast()
        }
        return [0]
    }

    private static func revision(_ header: EtcdWire.Header?, _ endpoint: String) throws -> Int64 {
        guard let revision = EtcdWire.int64(header?.revision) else {
            throw EtcdError.malformedResponse(endpoint: endpoint, reason: "header without a revision")
        }
        return revision
    }

    private static func keyValue(_ kv: EtcdWire.KeyValue, _ endpoint: String) throws -> EtcdKeyValue {
        guard let key = EtcdWire.bytes(kv.key), let value = EtcdWire.bytes(kv.value),
              let create = EtcdWire.int64(kv.create_revision), let mod = EtcdWire.int64(kv.mod_revision),
              let version = EtcdWire.int64(kv.version), let lease = EtcdWire.int64(kv.lease) else {
            throw EtcdError.malformedResponse(endpoint: endpoint, reason: "a key-value with bad base64 or numbers")
        }
        return EtcdKeyValue(key: String(decoding: key, as: UTF8.self), value: value, createRevision: create,
                            modRevision: mod, version: version, lease: lease)
    }

    private static func wire(_ compare: EtcdCompare) -> EtcdWire.Compare {
        let key = EtcdWire.base64(compare.key)
        switch compare.target {
        case .createRevision(let revision):
            return .init(target: "CREATE", result: "EQUAL", key: key, create_revision: String(revision))
        case .modRevision(let revision):
            return .init(target: "MOD", result: "EQUAL", key: key, mod_revision: String(revision))
        case .value(let value):
            return .init(target: "VALUE", result: "EQUAL", key: key, value: EtcdWire.base64(value))
        case .valueBelow(let value):
            return .init(target: "VALUE", result: "LESS", key: key, value: EtcdWire.base64(value))
        }
    }

    private static func wire(_ operation: EtcdOperation) -> EtcdWire.RequestOp {
        switch operation {
        case .put(let key, let value, let lease):
            return .init(request_put: .init(key: EtcdWire.base64(key), value: EtcdWire.base64(value), lease: lease.map(String.init)))
        case .range(let key):
            return .init(request_range: .init(key: EtcdWire.base64(key)))
        case .delete(let key):
            return .init(request_delete_range: .init(key: EtcdWire.base64(key)))
        }
    }
}
