package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are one node's Prometheus series, in a registry of its own so
// that several nodes in one process (tests, the local testnet) do not mix.
type metrics struct {
	reg *prometheus.Registry

	leader        prometheus.Gauge
	chainHeight   prometheus.Gauge
	enqueued      prometheus.Counter
	assigned      prometheus.Counter
	requeued      prometheus.Counter
	released      prometheus.Counter
	givenUp       prometheus.Counter
	executions    *prometheus.CounterVec // result=success|failure
	execSeconds   prometheus.Histogram
	builds        *prometheus.CounterVec // result=ok|failed
	buildSeconds  prometheus.Histogram
	wasmSource    *prometheus.CounterVec // from=cache|peer|build|download
	resolves      *prometheus.CounterVec // outcome=resolved|terminal|error
	resolveBlocks prometheus.Histogram
	running       prometheus.Gauge
	noMajority    prometheus.Counter
	// signedFailures counts failure resolves signed by k members.
	signedFailures prometheus.Counter
	refused        prometheus.Counter
	allowance      prometheus.Gauge
	// pruned counts settled requests dropped as leader (retention).
	pruned prometheus.Counter
	// storageBudget is this node's --storage-budget (0: none); the bytes
	// stored are a gauge read from the replica (node.go).
	storageBudget prometheus.Gauge
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_leader", Help: "1 while this node is the Raft leader (coordinator)."})
	m.chainHeight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_chain_final_height", Help: "Last final block height the chain watcher saw."})
	m.enqueued = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_requests_enqueued_total", Help: "Requests this node enqueued as leader."})
	m.assigned = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_assignments_total", Help: "Assignments this node proposed as leader."})
	m.requeued = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_leases_expired_total", Help: "Expired leases this node handled as leader."})
	m.released = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_leases_released_total", Help: "Leases this node handed back to the cluster (while stopping) so another node could run the request at once."})
	m.givenUp = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_requests_given_up_total", Help: "Requests failed because their yield deadline was near."})
	m.executions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outlayer_executions_total", Help: "Programs this node ran, by outcome."}, []string{"result"})
	m.execSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outlayer_execution_seconds", Help: "Wall time of program runs.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	m.builds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outlayer_builds_total", Help: "Source builds this node ran, by outcome."}, []string{"result"})
	m.buildSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outlayer_build_seconds", Help: "Wall time of source builds.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 10)})
	m.wasmSource = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outlayer_wasm_obtained_total", Help: "Where this node got the WASM it ran."}, []string{"from"})
	m.resolves = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outlayer_resolves_total", Help: "Resolve transactions sent as leader, by outcome."}, []string{"outcome"})
	m.resolveBlocks = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "outlayer_request_to_resolve_blocks", Help: "Blocks between a request and its resolve transaction.", Buckets: []float64{1, 2, 3, 4, 5, 8, 13, 21, 34, 55, 89, 144, 200}})
	m.running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_running_executions", Help: "Requests this node is running now."})
	m.noMajority = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_agreement_failed_total", Help: "Requests failed as leader because their executors disagreed and no node was left to break the tie."})
	m.signedFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_failures_signed_total", Help: "Resolves sent as leader of a failure the cluster decided, signed by the members the contract requires."})
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_resolves_refused_total", Help: "Resolve transactions sent as leader that the chain refused (already resolved, not found, yield gone): none in normal operation."})
	m.allowance = prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_operator_key_allowance_near", Help: "The remaining allowance of this node's operator key, in NEAR (-1: unlimited), read every 30 s."})
	m.pruned = prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_requests_pruned_total", Help: "Settled requests this node dropped from the replicated state as leader (--retention, --retain-settled)."})
	m.storageBudget = prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_program_storage_budget_bytes", Help: "Bytes all programs may store together (--storage-budget; 0: no budget)."})
	for _, c := range []prometheus.Collector{m.pruned, m.storageBudget, m.noMajority, m.signedFailures, m.refused, m.allowance, m.leader, m.chainHeight, m.enqueued, m.assigned, m.requeued, m.released, m.givenUp,
		m.executions, m.execSeconds, m.builds, m.buildSeconds, m.wasmSource, m.resolves, m.resolveBlocks, m.running,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}
