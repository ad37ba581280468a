package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/internal/wasmtest"
)

func httpStatus(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// What the replicated state keeps, end to end on a two-node devchain
// cluster: a project's run writes storage every node serves; a run whose
// writes would pass the node-wide budget fails (the user's run, not the
// node) and writes nothing; settled requests past the count cap are
// dropped on every node and answered 410; deleting the project on chain
// drops its storage on every node and the public route answers 404.
func TestRetentionBudgetAndProjectCleanup(t *testing.T) {
	if programs["hostprobe"] == nil {
		programs["hostprobe"] = wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe")
	}
	const budget = 200
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(2, func(c *daemon.Config) {
		c.RetainSettled = 1
		c.StorageBudget = budget
		daemon.SetRetentionTiming(c, 100*time.Millisecond, 0)
	})
	alice := w.alice.AccountID()
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodCreateProject,
		contracts.CreateProjectArgs{Name: "keeper", Source: w.wasmSource("hostprobe")}, 100*near.TGas, near.OneNEAR); err != nil {
		t.Fatalf("create_project: %v", err)
	}
	projectID := alice + "/keeper"
	var project contracts.ProjectView
	if err := w.cl.ViewFunction(w.ctx, w.outlayer, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &project); err != nil {
		t.Fatal(err)
	}
	limits := contracts.ResourceLimits{MaxInstructions: 2_000_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 20}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	run := func(script string) outcome {
		t.Helper()
		h := w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			Source:         &contracts.ExecutionSource{Project: &contracts.ProjectSource{ProjectID: projectID}},
			ResourceLimits: &limits, InputData: &script, ResponseFormat: contracts.FormatText,
		}, deposit)
		o := parseOutcome(t, w.final(h, alice, 2*time.Minute))
		if len(o.completed) != 1 {
			t.Fatalf("request %d: %d completions", o.requestID, len(o.completed))
		}
		return o
	}
	errorOf := func(o outcome) string {
		if o.completed[0].ErrorMessage != nil {
			return *o.completed[0].ErrorMessage
		}
		return ""
	}
	publicLast := func(i int) string {
		return fmt.Sprintf("http://%s/public/storage/get?project_uuid=%s&key=last&format=raw", w.node(i).HTTPAddr(), project.UUID)
	}

	first := run("set public last ok\nincr worker runs 1\n")
	if !first.completed[0].Success {
		t.Fatalf("first run failed: %s", errorOf(first))
	}
	for i := range 2 {
		w.eventually(20*time.Second, fmt.Sprintf("node %d to serve the project's public value", i), func() bool {
			code, body, err := httpStatus(publicLast(i))
			return err == nil && code == http.StatusOK && body == "ok"
		})
	}

	// Past the budget: the run fails with the budget's error, nothing
	// of it is stored.
	var used uint64
	for i := range 2 {
		var st daemon.Status
		getJSON(t, "http://"+w.node(i).HTTPAddr()+"/status", &st)
		if st.Storage.BudgetBytes != budget || st.Storage.ProgramBytes == 0 {
			t.Fatalf("node %d /status storage: %+v", i, st.Storage)
		}
		used = st.Storage.ProgramBytes
	}
	over := run("set public big " + strings.Repeat("x", budget) + "\n")
	if over.completed[0].Success || !strings.Contains(errorOf(over), "storage budget") {
		t.Fatalf("a run past the storage budget: success %v, error %q", over.completed[0].Success, errorOf(over))
	}
	for i := range 2 {
		var st daemon.Status
		getJSON(t, "http://"+w.node(i).HTTPAddr()+"/status", &st)
		if st.Storage.ProgramBytes != used {
			t.Fatalf("node %d stores %d bytes after the refused run, %d before", i, st.Storage.ProgramBytes, used)
		}
	}
	metrics := func(i int) string {
		_, body, err := httpStatus("http://" + w.node(i).HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	if m := metrics(0); !strings.Contains(m, fmt.Sprintf("outlayer_program_storage_budget_bytes %d", budget)) ||
		!strings.Contains(m, fmt.Sprintf("outlayer_program_storage_bytes %d", used)) {
		t.Errorf("metrics lack the storage budget or bytes")
	}

	// One settled request is kept: the first two are dropped everywhere,
	// and their pages say so.
	for i := range 2 {
		url := fmt.Sprintf("http://%s/requests/%d", w.node(i).HTTPAddr(), first.requestID)
		w.eventually(20*time.Second, fmt.Sprintf("node %d to answer 410 for pruned request %d", i, first.requestID), func() bool {
			code, body, err := httpStatus(url)
			return err == nil && code == http.StatusGone && strings.Contains(body, "pruned")
		})
	}
	if code, body, _ := httpStatus(fmt.Sprintf("http://%s/requests/%d", w.node(0).HTTPAddr(), over.requestID+1000)); code != http.StatusNotFound {
		t.Errorf("an id never seen: %d %s, want 404", code, body)
	}

	// The project is deleted on chain: its storage goes on every node.
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodDeleteProject,
		contracts.ProjectNameArgs{ProjectName: "keeper"}, 100*near.TGas, near.U128{}); err != nil {
		t.Fatalf("delete_project: %v", err)
	}
	for i := range 2 {
		w.eventually(30*time.Second, fmt.Sprintf("node %d to drop the deleted project's storage", i), func() bool {
			code, _, err := httpStatus(publicLast(i))
			var st daemon.Status
			return err == nil && code == http.StatusNotFound &&
				tryGetJSON("http://"+w.node(i).HTTPAddr()+"/status", &st) == nil && st.Storage.ProgramBytes == 0
		})
	}
}
