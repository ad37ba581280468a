package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/outlayer/outlayer/store"
)

// Release goes through the FSM to store.Tx.Release: a stranger's release is
// refused with store's sentinel and changes nothing, the holder's puts the
// request back in the queue with the attempt marked released.
func TestFSMAppliesRelease(t *testing.T) {
	f := newTestFSM(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cmds := []Command{
		&Enqueue{Requests: []store.Request{testRequest(1)}},
		&Assign{ID: 1, Node: "n1", LeaseUntil: t0.Add(time.Hour)},
		&Release{ID: 1, Node: "n2"},
		&Release{ID: 1, Node: "n1"},
		&Release{ID: 1, Node: "n1"},
	}
	var logs []*raft.Log
	for i, c := range cmds {
		b, err := encodeCommand(c, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	out := f.ApplyBatch(logs)
	resp := func(i int) applyResponse { return out[i].(applyResponse) }
	for i := range 2 {
		if resp(i).err != nil {
			t.Fatalf("entry %d: %v", i+1, resp(i).err)
		}
	}
	if err := resp(2).err; !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("release by a node without the lease: %v, want ErrNotHolder", err)
	}
	if err := resp(3).err; err != nil {
		t.Fatalf("release by the holder: %v", err)
	}
	if j := resp(3).result.Job; j == nil || j.Status != store.StatusQueued {
		t.Fatalf("release result: %+v, want the job, queued", resp(3).result)
	}
	if err := resp(4).err; !errors.Is(err, store.ErrInvalidTransition) {
		t.Fatalf("second release: %v, want ErrInvalidTransition", err)
	}
	j, err := f.store.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusQueued || len(j.Attempts) != 1 || j.Attempts[0].Outcome != store.AttemptReleased {
		t.Fatalf("after release: status %s attempts %+v", j.Status, j.Attempts)
	}
}
