package daemon_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/internal/wasmtest"
)

// BenchmarkOracleRequest is an oracle request end to end: request_execution
// on the devchain, the cluster runs testnet/examples/programs/priceoracle,
// which fetches a price from a local HTTP server, and the result is
// resolved on chain (three nodes, k = 1).
func BenchmarkOracleRequest(b *testing.B) {
	programs["priceoracle"] = wasmtest.Build(b, "./testnet/examples/programs/priceoracle")
	w := newWorld(b, benchBlockTime, 2400)
	w.startCluster(3, benchTuning)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(rw, `{"price": 3.21}`)
	}))
	b.Cleanup(srv.Close)
	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 10}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(b, "0.01"))
	w.measure(w.request(w.wasmSource("priceoracle"), srv.URL+"/price", limits, contracts.FormatJSON, deposit))

	samples := make([]latencySample, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples = append(samples, w.measure(w.request(w.wasmSource("priceoracle"), srv.URL+"/price", limits, contracts.FormatJSON, deposit)))
	}
	b.StopTimer()
	reportLatency(b, samples)
}
