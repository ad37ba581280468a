package contracts

import (
	"encoding/json"
	"strings"
	"testing"
)

// The chain watcher parses every execution_requested event it sees.
func BenchmarkParseExecutionRequested(b *testing.B) {
	rd := `{"request_id":12,"sender_id":"caller.test.near","code_source":{"GitHub":{"repo":"https://github.com/a/b","commit":"main","build_target":null}},` +
		`"resource_limits":{"max_instructions":1000000000,"max_memory_mb":128,"max_execution_seconds":60},"input_data":"` + strings.Repeat("x", 1024) +
		`","secrets_ref":null,"response_format":"Text","payment":"7000100000000000000000","timestamp":99,"compile_only":false,` +
		`"force_rebuild":false,"store_on_fastfs":false,"payer_account_id":"caller.test.near","input_data_in_state":false}`
	s, _ := json.Marshal(rd)
	line := `EVENT_JSON:{"standard":"near-outlayer","version":"1.0.0","event":"execution_requested","data":[{"request_data":` +
		string(s) + `,"data_id":[` + strings.TrimSuffix(strings.Repeat("7,", 32), ",") + `],"timestamp":99}]}`
	logs := []string{"plain", line}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		evs, err := OutLayerEvents(logs)
		if err != nil || len(evs) != 1 {
			b.Fatal(err)
		}
		var req ExecutionRequested
		if err := evs[0].Decode(EventExecutionRequested, &req); err != nil {
			b.Fatal(err)
		}
	}
}
