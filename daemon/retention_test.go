package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/store"
)

type fakeRetentionReplica struct {
	plans    [][]uint64
	projects map[string]string
}

func (r *fakeRetentionReplica) PrunePlan(store.Retention, time.Time, int) ([]uint64, time.Time, error) {
	if len(r.plans) == 0 {
		return nil, time.Time{}, nil
	}
	p := r.plans[0]
	r.plans = r.plans[1:]
	return p, time.Unix(100, 0), nil
}

func (r *fakeRetentionReplica) ProgProjects() (map[string]string, error) { return r.projects, nil }

// Only the chain's answer that a project is gone (null, or another uuid
// under its name) drops its storage; a project that is there, or a read
// that failed, keeps it. A drop is proposed until nothing is left.
func TestRetainerDropsOnlyDeletedProjects(t *testing.T) {
	rep := &fakeRetentionReplica{projects: map[string]string{
		"project:pa": "alice.test/a", // still there
		"project:pb": "alice.test/b", // deleted
		"project:pc": "alice.test/c", // deleted and created again
		"project:pd": "alice.test/d", // the read fails
	}}
	chain := &fakeChain{height: 9, view: func(method string, args any, out any) error {
		if method != contracts.MethodGetProject {
			t.Fatalf("unexpected view %s", method)
		}
		pv := out.(**contracts.ProjectView)
		switch args.(contracts.ProjectIDArgs).ProjectID {
		case "alice.test/a":
			*pv = &contracts.ProjectView{UUID: "pa"}
		case "alice.test/b":
			*pv = nil
		case "alice.test/c":
			*pv = &contracts.ProjectView{UUID: "pz"}
		default:
			return errors.New("rpc timeout")
		}
		return nil
	}}
	pending := map[string]int{"project:pb": 1}
	prop := &fakeProposer{answer: func(c consensus.Command) (consensus.Result, error) {
		d := c.(*consensus.DropProgStorage)
		if pending[d.Code] > 0 {
			pending[d.Code]--
			return consensus.Result{Dropped: 10_000, DropPending: true}, nil
		}
		return consensus.Result{}, nil
	}}
	r := &retainer{replica: rep, propose: prop, chain: chain, contract: "outlayer.test", metrics: newMetrics(), log: quietLog()}
	if err := r.pollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, d := range commands[*consensus.DropProgStorage](prop) {
		got[d.Code]++
		if !reflect.DeepEqual(d.Prefixes, hostcall.NamespacePrefixes(d.Code)) {
			t.Errorf("drop of %s names prefixes %q", d.Code, d.Prefixes)
		}
	}
	if want := map[string]int{"project:pb": 2, "project:pc": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("drops proposed %v, want %v", got, want)
	}
}

// The leader proposes plans until there is none, and stops when a plan
// prunes nothing (the replicas refused every id) instead of spinning.
func TestRetainerPrunesUntilThePlanIsEmpty(t *testing.T) {
	rep := &fakeRetentionReplica{plans: [][]uint64{{1, 2}, {3}, {4}, {5}}}
	prop := &fakeProposer{answer: func(c consensus.Command) (consensus.Result, error) {
		p := c.(*consensus.PruneRequests)
		if p.IDs[0] == 4 {
			return consensus.Result{Pruned: &store.PruneOutcome{Kept: 1}}, nil
		}
		return consensus.Result{Pruned: &store.PruneOutcome{Pruned: len(p.IDs)}}, nil
	}}
	r := &retainer{replica: rep, propose: prop, keep: store.Retention{Window: time.Hour}, metrics: newMetrics(), log: quietLog()}
	if err := r.prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	cmds := commands[*consensus.PruneRequests](prop)
	if len(cmds) != 3 || !cmds[0].ClosedBefore.Equal(time.Unix(100, 0)) {
		t.Fatalf("proposed %d prune commands (%+v), want 3: the fourth plan is never asked for", len(cmds), cmds)
	}
	// Nothing configured: nothing proposed.
	prop2 := &fakeProposer{}
	r2 := &retainer{replica: &fakeRetentionReplica{plans: [][]uint64{{1}}}, propose: prop2, metrics: newMetrics(), log: quietLog()}
	if err := r2.prune(context.Background()); err != nil || len(prop2.cmds) != 0 {
		t.Fatalf("retention off proposed %d commands (%v)", len(prop2.cmds), err)
	}
}

// A window below a minute, or a negative cap, is refused at start.
func TestRetentionFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Retention: 30 * time.Second}, "--retention 30s"},
		{Config{Retention: -time.Hour}, "--retention -1h0m0s"},
		{Config{RetainSettled: -1}, "--retain-settled -1"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.cfg.Retention, err, c.want)
		}
	}
	if err := (&Config{Retention: DefaultRetention}).Validate(); err != nil && strings.Contains(err.Error(), "--retention") {
		t.Errorf("the default retention is refused: %v", err)
	}
}

// A pruned request is never enqueued again, even when the chain lists it
// (a stale view, a contract that ignores from_index): the replica's
// highest known id counts the pruned ones. Real store, real commands'
// store calls.
func TestWatcherNeverBringsBackAPrunedRequest(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err = s.Update(func(tx *store.Tx) error {
		for id := uint64(1); id <= 3; id++ {
			if _, err := tx.Enqueue(requestFromChain(chainReq(id), &store.Cursor{Height: 10}), &store.Cursor{Height: 10, Hash: "h"}, now); err != nil {
				return err
			}
			if _, err := tx.Fail(id, "test", now); err != nil {
				return err
			}
			if _, err := tx.MarkResolved(id, "tx", now); err != nil {
				return err
			}
		}
		out, err := tx.PruneRequests([]uint64{1, 2, 3}, now, now.Add(time.Hour))
		if err == nil && out.Pruned != 3 {
			err = errors.New("not every request was pruned")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	chain := pendingChain(500, []contracts.ExecutionRequest{chainReq(2), chainReq(3), chainReq(4)}, &views)
	prop := &fakeProposer{answer: func(c consensus.Command) (res consensus.Result, err error) {
		err = s.Update(func(tx *store.Tx) error {
			switch c := c.(type) {
			case *consensus.Enqueue:
				res.Enqueued, err = tx.EnqueueBatch(c.Requests, c.Cursor, now)
				return err
			case *consensus.AdvanceCursor:
				return tx.AdvanceCursor(c.Cursor)
			}
			return nil
		})
		return res, err
	}}
	w := &watcher{replica: s, propose: prop, chain: chain, contract: "outlayer.near", tip: &chainTip{},
		metrics: newMetrics(), log: quietLog()}
	if err := w.pollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2, 3} {
		if _, err := s.Get(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pruned request %d is back: %v", id, err)
		}
	}
	if j, err := s.Get(4); err != nil || j.Status != store.StatusQueued {
		t.Fatalf("the new request 4: %v %v", j, err)
	}
	for _, e := range commands[*consensus.Enqueue](prop) {
		for _, r := range e.Requests {
			if r.ID != 4 {
				t.Errorf("the watcher proposed pruned request %d again", r.ID)
			}
		}
	}
}
