// The status line of a daemon with several IKE workers: each worker's gateway has its own
// counters (GatewayStatus.swift); the operator sees their sums, in the usual format.

enum WorkerStatus {
    /// Sums `name=value` fields by name over the workers; names keep the order in which
    /// they first appear (worker 0's fixed order, then refusals only others have).
    static func merge(_ workers: [[(String, Int)]]) -> [(String, Int)] {
        var order: [String] = []
        var sums: [String: Int] = [:]
        for fields in workers {
            for (name, value) in fields {
                if sums[name] == nil { order.append(name) }
                sums[name, default: 0] += value
            }
        }
        return order.map { ($0, sums[$0] ?? 0) }
    }

    /// `counters: ike_sas=1 ...` (the format of `IKEGateway.statusLine`), plus `workers=N`.
    static func line(_ workers: [[(String, Int)]]) -> String {
        let fields = merge(workers) + [("workers", workers.count)]
        return "counters: " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
