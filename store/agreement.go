package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// k-of-n agreement (see DESIGN.md, "Agreement"): a request that needs k
// agreeing executors runs on one node at a time, each a distinct node; every
// accepted result is kept in Job.Agreement. When some outcome is returned by
// at least k executors and by a strict majority of those that ran, the
// request is completed with it and the executors that returned something
// else are recorded as dissenting, on the request and in the per-node
// agreement counters. Until then the request goes back to the queue for the
// next executor.

// MaxAgreement bounds k: more executors than any cluster has voters and
// non-voters to spare would only make the request wait for its deadline.
const MaxAgreement = 16

// Agreement is the record of a request that needs K agreeing executors.
type Agreement struct {
	// K is how many executors must return the same outcome.
	K int `json:"k"`
	// Results are the executors' accepted results, in the order they
	// arrived (each carries its Node and its signature).
	Results []Result `json:"results"`
	// Dissent lists, once a majority formed, the executors whose result
	// differed from it and how.
	Dissent []Dissent `json:"dissent,omitempty"`
}

// Dissent is one executor outvoted by the majority.
type Dissent struct {
	Node string `json:"node"`
	// Differs says what differed: output, success, instruction count,
	// program.
	Differs string `json:"differs"`
}

// NodeAgreement counts how a node's results compared with the majority,
// over every request decided with more than one executor.
type NodeAgreement struct {
	Agreed    uint64 `json:"agreed"`
	Dissented uint64 `json:"dissented"`
	// Streak is the dissents since this node last agreed with a majority:
	// the scheduler stops assigning to a node whose streak reaches its
	// threshold.
	Streak uint64 `json:"streak"`
}

// SameOutcome reports whether two results agree: the same program, success
// flag, instruction count and host-call record, and the same output (on
// success) or error text (on failure) byte for byte — what a result claim
// binds, plus what the program saw of the world.
func SameOutcome(a, b *Result) bool { return outcomeDiff(a, b) == "" }

// outcomeDiff says how b's outcome differs from a's ("" when it does not).
func outcomeDiff(a, b *Result) string {
	var d []string
	if a.WasmHash != b.WasmHash {
		d = append(d, fmt.Sprintf("program (WASM %s, majority %s)", short(b.WasmHash), short(a.WasmHash)))
	}
	if a.Success != b.Success {
		d = append(d, fmt.Sprintf("success (%t, majority %t)", b.Success, a.Success))
	}
	if a.Instructions != b.Instructions {
		d = append(d, fmt.Sprintf("instruction count (%d, majority %d)", b.Instructions, a.Instructions))
	}
	if a.RecordHash != b.RecordHash {
		d = append(d, fmt.Sprintf("host-call record (%s, majority %s)", short(b.RecordHash), short(a.RecordHash)))
	}
	if a.Success == b.Success {
		switch {
		case a.Success && !bytes.Equal(a.Output, b.Output):
			d = append(d, fmt.Sprintf("output (%d bytes, majority %d bytes)", len(b.Output), len(a.Output)))
		case !a.Success && a.Error != b.Error:
			d = append(d, "error text")
		}
	}
	return strings.Join(d, ", ")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "none"
	}
	return h
}

// majority returns the indexes (into Results) of the outcome that won: one
// returned by at least K executors and by more than half of all results.
// ok is false when no outcome has both yet.
func (a *Agreement) majority() (idx []int, ok bool) {
	var best []int
	for i := range a.Results {
		var group []int
		for j := range a.Results {
			if SameOutcome(&a.Results[i], &a.Results[j]) {
				group = append(group, j)
			}
		}
		if len(group) > len(best) {
			best = group
		}
	}
	if len(best) >= a.K && 2*len(best) > len(a.Results) {
		return best, true
	}
	return nil, false
}

// Majority returns the results of the winning outcome (in arrival order),
// or nil while none has won.
func (a *Agreement) Majority() []Result {
	if a == nil {
		return nil
	}
	idx, ok := a.majority()
	if !ok {
		return nil
	}
	out := make([]Result, 0, len(idx))
	for _, i := range idx {
		out = append(out, a.Results[i])
	}
	return out
}

// Disagreed reports whether the executors so far returned more than one
// outcome.
func (a *Agreement) Disagreed() bool {
	if a == nil {
		return false
	}
	for i := 1; i < len(a.Results); i++ {
		if !SameOutcome(&a.Results[0], &a.Results[i]) {
			return true
		}
	}
	return false
}

// Ran reports whether node already returned a result for this request.
func (a *Agreement) Ran(node string) bool {
	if a == nil {
		return false
	}
	for i := range a.Results {
		if a.Results[i].Node == node {
			return true
		}
	}
	return false
}

// completeAgreeing records an agreement request's result from its lease
// holder: the request is completed with the majority's result once one
// forms, and goes back to the queue for another executor otherwise.
func (t *Tx) completeAgreeing(job *Job, res Result) error {
	a := job.Agreement
	a.Results = append(a.Results, res)
	win, ok := a.majority()
	if !ok {
		if len(job.Holders()) > 0 {
			return nil // its other executors run on
		}
		t.setStatus(job, StatusQueued)
		return t.bucket(bucketQueue).Put(u64key(job.ID), nil)
	}
	// Decided: executors still running are no longer needed.
	if err := t.endLease(job, AttemptCancelled, job.UpdatedAt); err != nil {
		return err
	}
	winner := a.Results[win[0]]
	in := map[int]bool{}
	for _, i := range win {
		in[i] = true
	}
	for i := range a.Results {
		r := &a.Results[i]
		stats, err := t.NodeAgreement(r.Node)
		if err != nil {
			return err
		}
		if in[i] {
			stats.Agreed++
			stats.Streak = 0
		} else {
			stats.Dissented++
			stats.Streak++
			a.Dissent = append(a.Dissent, Dissent{Node: r.Node, Differs: outcomeDiff(&winner, r)})
		}
		if err := t.putNodeAgreement(r.Node, stats); err != nil {
			return err
		}
	}
	t.setStatus(job, StatusCompleted)
	job.Result = &winner
	job.DoneAt = job.UpdatedAt
	return t.bucket(bucketUnresolved).Put(u64key(job.ID), nil)
}

// NodeAgreement returns node's agreement counters (zero when it never took
// part in a decided agreement).
func (t *Tx) NodeAgreement(node string) (NodeAgreement, error) {
	var n NodeAgreement
	raw := t.bucket(bucketAgreement).Get([]byte(node))
	if raw == nil {
		return n, nil
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return n, fmt.Errorf("decode the agreement counters of node %s: %w", node, err)
	}
	return n, nil
}

// NodeAgreements returns every node's agreement counters, by peer id.
func (t *Tx) NodeAgreements() (map[string]NodeAgreement, error) {
	out := map[string]NodeAgreement{}
	err := t.bucket(bucketAgreement).ForEach(func(k, v []byte) error {
		var n NodeAgreement
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("decode the agreement counters of node %s: %w", k, err)
		}
		out[string(k)] = n
		return nil
	})
	return out, err
}

func (t *Tx) putNodeAgreement(node string, n NodeAgreement) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return t.bucket(bucketAgreement).Put([]byte(node), raw)
}
