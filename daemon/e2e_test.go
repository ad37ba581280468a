package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// A caller contract asks for a program's output; the cluster notices the
// request on chain, fetches and runs the WASM, and resolves; the caller's
// callback gets the output, and every balance moves exactly by the pricing.
func TestCallerContractReceivesOutputAndPaysByPricing(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(3, nil)

	limits := contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	pricing := contracts.DefaultPricing()
	deposit := add(pricing.Estimate(limits), nearAmount(t, "1"))
	payerBefore := w.balance(w.payer)
	contractBefore := w.balance(w.outlayer)

	h := w.send(w.alice, w.caller, "run", map[string]any{
		"outlayer":         w.outlayer,
		"code_source":      w.wasmSource("echo"),
		"resource_limits":  limits,
		"input_data":       `{"hello":"outlayer"}`,
		"response_format":  "Json",
		"payer_account_id": w.payer,
	}, deposit)
	out := w.final(h, w.alice.AccountID(), time.Minute)
	var got map[string]string
	if err := out.DecodeResult(&got); err != nil || got["hello"] != "outlayer" {
		t.Fatalf("caller's result = %v, %v (logs %q)", got, err, out.Logs())
	}
	var last struct {
		Success bool              `json:"success"`
		Output  map[string]string `json:"output"`
	}
	if err := w.cl.ViewFunction(w.ctx, w.caller, "get_last", nil, &last); err != nil || !last.Success || last.Output["hello"] != "outlayer" {
		t.Fatalf("caller recorded %+v, %v", last, err)
	}

	o := parseOutcome(t, out)
	if len(o.completed) != 1 {
		t.Fatalf("%d execution_completed events, want 1", len(o.completed))
	}
	job := w.job(o.requestID, 10*time.Second)
	if job.Status != store.StatusResolved || job.Result == nil || !job.Result.Success || job.ResolveTx == "" {
		t.Fatalf("replica has %+v", job)
	}
	used := contracts.ResourceMetrics{Instructions: job.Result.Instructions, TimeMs: job.Result.TimeMs}
	cost := pricing.Cost(used, limits)
	refund := sub(deposit, cost)
	c := o.completed[0]
	if !c.Success || c.PaymentCharged != cost || c.PaymentRefunded != refund || c.ResourcesUsed.Instructions != job.Result.Instructions {
		t.Fatalf("execution_completed = %+v; want charged %s refunded %s for %+v", c, cost, refund, used)
	}
	if job.Result.Instructions == 0 {
		t.Fatal("the run reports zero instructions")
	}
	if got := w.balance(w.payer); got != add(payerBefore, refund) {
		t.Errorf("payer %s -> %s, want +%s", payerBefore, got, refund)
	}
	if got := w.balance(w.outlayer); got != add(contractBefore, cost) {
		t.Errorf("contract %s -> %s, want +%s", contractBefore, got, cost)
	}

	// Every node serves the request, the cluster status and metrics.
	for i := range w.nodes {
		base := "http://" + w.node(i).HTTPAddr()
		var j store.Job
		getJSON(t, base+"/requests/"+itoa(o.requestID)+"?consistent=1", &j)
		if j.Status != store.StatusResolved || j.ResolveTx != job.ResolveTx {
			t.Errorf("node %d serves %+v", i, j)
		}
	}
	base := "http://" + w.anyNode().HTTPAddr()
	var st struct {
		Leader      string `json:"leader"`
		Attestation string `json:"attestation"`
		Nodes       []struct {
			Role      string `json:"role"`
			Reachable bool   `json:"reachable"`
		} `json:"nodes"`
	}
	getJSON(t, base+"/status", &st)
	if st.Leader == "" || len(st.Nodes) != 3 || !strings.Contains(st.Attestation, "simulated attestation") {
		t.Errorf("/status = %+v", st)
	}
	var hist struct {
		Requests []store.Job `json:"requests"`
	}
	getJSON(t, base+"/history?sender="+w.caller, &hist)
	if len(hist.Requests) != 1 || hist.Requests[0].ID != o.requestID {
		t.Errorf("/history = %+v", hist)
	}
	var pr map[string]any
	getJSON(t, base+"/pricing", &pr)
	if pr["base_fee"] != pricing.BaseFee.String() {
		t.Errorf("/pricing = %v", pr)
	}
	resp, err := http.Get("http://" + w.node(w.leader()).HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "outlayer_resolves_total{outcome=\"resolved\"} 1") {
		t.Errorf("leader's metrics lack the resolve:\n%s", grepLines(string(body), "outlayer_"))
	}
}

// tryGetJSON fetches url into out; any failure is an error.
func tryGetJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = near.U128{}
