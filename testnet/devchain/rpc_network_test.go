package devchain

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// The methods near-api-js and near-cli-rs call besides state queries answer
// with nearcore's shapes.
func TestNodeInfoMethods(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	call := func(method string, params any) map[string]any {
		t.Helper()
		var raw json.RawMessage
		if err := cl.Call(ctx, method, params, &raw); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var m map[string]any
		if string(raw) != "null" {
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("%s result %s: %v", method, raw, err)
			}
		}
		return m
	}
	pc := call("EXPERIMENTAL_protocol_config", map[string]any{"finality": "final"})
	rc, _ := pc["runtime_config"].(map[string]any)
	if rc["storage_amount_per_byte"] != "10000000000000000000" || pc["chain_id"] != "localnet" {
		t.Fatalf("protocol config = %v", pc)
	}
	if g := call("EXPERIMENTAL_genesis_config", nil); g["chain_id"] != "localnet" || g["genesis_time"] == "" {
		t.Fatalf("genesis config = %v", g)
	}
	v := call("validators", []any{nil})
	cur, _ := v["current_validators"].([]any)
	if len(cur) != 1 || cur[0].(map[string]any)["account_id"] != root.AccountID() {
		t.Fatalf("validators = %v", v)
	}
	if h := call("health", []any{}); h != nil {
		t.Fatalf("health = %v, want null", h)
	}
	if n := call("network_info", []any{}); n["num_active_peers"] != 0.0 {
		t.Fatalf("network_info = %v", n)
	}
	// chunk by [[block, shard]] (near-api-js's ChunkId) and [block, shard].
	h := c.Height()
	for _, params := range []any{[]any{[]any{h, 0}}, []any{h, 0}, map[string]any{"block_id": h, "shard_id": 0}} {
		ch := call("chunk", params)
		if hd, _ := ch["header"].(map[string]any); hd["height_included"] != float64(h) {
			t.Fatalf("chunk %v = %v", params, ch)
		}
	}
	// An included transaction reports receipts_outcome: [] before its receipt runs.
	st, err := root.Sign(ctx, root.AccountID(), near.Transfer{Deposit: near.NewU128(1)})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{"signed_tx_base64": b64(st.Bytes()), "wait_until": "INCLUDED"})
	var raw json.RawMessage
	if err := cl.Call(ctx, "send_tx", json.RawMessage(req), &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"receipts_outcome":[`) || !strings.Contains(string(raw), `"transaction_outcome"`) {
		t.Fatalf("send_tx INCLUDED = %s", raw)
	}
}

// A failing view answers in nearcore's words: the legacy success-shaped
// result with "wasm execution failed with error: " and the error's Debug form.
func TestViewErrorsInNearcoreWords(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	p := newContractAccount(t, ctx, root, "panicker", "panicker", 10)
	for method, want := range map[string]string{
		"panic_msg":      `wasm execution failed with error: HostError(GuestPanic { panic_msg: "say \"no\"" })`,
		"trap":           `wasm execution failed with error: WasmTrap(Unreachable)`,
		"no_such_method": `wasm execution failed with error: MethodResolveError(MethodNotFound)`,
		"set":            `wasm execution failed with error: HostError(ProhibitedInView { method_name: "storage_write" })`,
	} {
		_, err := cl.CallFunction(ctx, p.AccountID(), method, []byte(`{"message":"say \"no\"","key":"k","value":"v"}`), near.Final())
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("view %s: %v, want an error ending %s", method, err, want)
		}
	}
	_, err := cl.CallFunction(ctx, root.AccountID(), "anything", nil, near.Final())
	if want := `wasm execution failed with error: CompilationError(CodeDoesNotExist { account_id: "` + root.AccountID() + `" })`; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("view on an account without code: %v, want %s", err, want)
	}
}
