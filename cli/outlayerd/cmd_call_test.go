package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `outlayerd call` against a stand-in node that checks what the command
// sends (the node's side is tested in daemon/e2e_calls_test.go).
func TestCallCommand(t *testing.T) {
	key := "alice.near:1:" + strings.Repeat("ab", 32)
	var seen struct {
		path, key, limit string
		body             map[string]json.RawMessage
	}
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.path, seen.key, seen.limit = r.Method+" "+r.URL.Path, r.Header.Get("X-Payment-Key"), r.Header.Get("X-Compute-Limit")
		seen.body = nil
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &seen.body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/call/bob.near/poor":
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = w.Write([]byte(`{"error":"Insufficient balance: available=5, required=10000"}`))
		case r.URL.Path == "/call/bob.near/fails":
			_, _ = w.Write([]byte(`{"call_id":"c2","status":"failed","error":"Execution failed: trap","compute_cost":"1000"}`))
		case strings.Contains(string(b), `"async":true`):
			_, _ = w.Write([]byte(`{"call_id":"c3","status":"pending","poll_url":"/calls/c3"}`))
		default:
			_, _ = w.Write([]byte(`{"call_id":"c1","status":"completed","output":{"n":1},"compute_cost":"1001","instructions":1800000,"time_ms":3}`))
		}
	}))
	defer node.Close()

	code, out, errOut := runCLI(t, "", "call", "bob.near/echo", "--node", node.URL, "--payment-key", key, "--input", `{"n":1}`,
		"--compute-limit", "5000", "--max-seconds", "5")
	if code != exitOK || !strings.Contains(out, `"n": 1`) || !strings.Contains(out, "call c1: completed, cost 1001 (1800000 instructions, 3 ms)") {
		t.Fatalf("call: exit %d\n%s\n%s", code, out, errOut)
	}
	if seen.path != "POST /call/bob.near/echo" || seen.key != key || seen.limit != "5000" ||
		string(seen.body["input"]) != `{"n":1}` || string(seen.body["resource_limits"]) != `{"max_execution_seconds":5}` {
		t.Fatalf("sent %+v", seen)
	}

	code, _, errOut = runCLI(t, "", "call", "bob.near/echo", "--node", node.URL, "--payment-key", key, "--input", `1`, "--secrets-owner", "carol.near")
	if code != exitOK || string(seen.body["secrets_ref"]) != `{"account_id":"carol.near","profile":"default"}` {
		t.Fatalf("call with secrets: exit %d, sent %s\n%s", code, seen.body["secrets_ref"], errOut)
	}
	runCLI(t, "", "call", "bob.near/echo", "--node", node.URL, "--payment-key", key, "--input", `1`, "--secrets-owner", "carol.near", "--secrets-profile", "prod")
	if string(seen.body["secrets_ref"]) != `{"account_id":"carol.near","profile":"prod"}` {
		t.Fatalf("call with a secrets profile sent %s", seen.body["secrets_ref"])
	}

	code, _, errOut = runCLI(t, "", "call", "bob.near/poor", "--node", node.URL, "--payment-key", key, "--input", `1`)
	if code != exitFailure || !strings.Contains(errOut, "402 Payment Required") || !strings.Contains(errOut, "Insufficient balance: available=5, required=10000") {
		t.Fatalf("refused call: exit %d, stderr %q", code, errOut)
	}
	code, out, _ = runCLI(t, "", "call", "bob.near/fails", "--node", node.URL, "--payment-key", key, "--input", `1`)
	if code != exitFailure || !strings.Contains(out, "the program failed: Execution failed: trap") {
		t.Fatalf("failed call: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "", "call", "bob.near/echo", "--node", node.URL, "--payment-key", key, "--input", `"x"`, "--async")
	if code != exitOK || !strings.Contains(out, "outlayerd call --result c3") {
		t.Fatalf("async call: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "", "call", "--result", "c1", "--node", node.URL, "--payment-key", key)
	if code != exitOK || seen.path != "GET /calls/c1" || !strings.Contains(out, "completed") {
		t.Fatalf("--result: exit %d, %s\n%s", code, seen.path, out)
	}

	for _, bad := range [][]string{
		{"call", "bob.near/echo", "--input", "1"},
		{"call", "bob.near/echo", "--payment-key", "alice.near:1:short", "--input", "1"},
		{"call", "echo", "--payment-key", key, "--input", "1"},
		{"call", "bob.near/echo", "--payment-key", key},
		{"call", "bob.near/echo", "--payment-key", key, "--input", "hello"},
		{"call", "bob.near/echo", "--payment-key", key, "--input", "1", "--secrets-owner", "Carol"},
		{"call", "bob.near/echo", "--payment-key", key, "--input", "1", "--secrets-profile", "prod"},
	} {
		if code, _, errOut := runCLI(t, "", bad...); code != exitUsage || errOut == "" {
			t.Errorf("%q: exit %d %q, want a usage error", bad, code, errOut)
		}
	}
}
