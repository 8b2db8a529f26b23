// The swift-metrics objects of one endpoint on its swift-prometheus registry, by name and
// labels, with the last value each counter was moved to: the daemons keep running totals,
// and a scrape moves each counter by what happened since the previous scrape.
import CoreMetrics
import Prometheus

final class MetricsBook: @unchecked Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private var counters: [String: (counter: CoreMetrics.Counter, last: Int)] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var timers: [String: CoreMetrics.Timer] = [:]

    /// `histogramBuckets`: the buckets of each duration histogram, by name.
    init(registry: PrometheusCollectorRegistry, histogramBuckets: [String: [Duration]]) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        for (name, buckets) in histogramBuckets { factory.durationHistogramBuckets[name] = buckets }
        self.factory = factory
    }

    private func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + labels.map { "|\($0.0)=\($0.1)" }.joined()
    }

    /// The counter `name{labels}` moved up to the running total `value` (never down).
    func count(_ name: String, _ labels: [(String, String)], _ value: Int) {
        let key = key(name, labels)
        let entry = counters[key] ?? (CoreMetrics.Counter(label: name, dimensions: labels, factory: factory), 0)
        if value > entry.last { entry.counter.increment(by: Int64(value - entry.last)) }
        counters[key] = (entry.counter, max(entry.last, value))
    }

    /// The gauge `name{labels}` set to `value`.
    func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) {
        let key = key(name, labels)
        let gauge = gauges[key] ?? CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
        gauges[key] = gauge
        gauge.record(value)
    }

    /// Observations for the duration histogram `name` (created, empty, at the first call).
    func record(_ name: String, _ durations: [Duration]) {
        let timer = timers[name] ?? CoreMetrics.Timer(label: name, factory: factory)
        timers[name] = timer
        for duration in durations { timer.recordNanoseconds(Self.nanoseconds(duration)) }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The Prometheus text exposition (format 0.0.4).
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
