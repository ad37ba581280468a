package consensus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/outlayer/outlayer/store"
)

// The model of one request id under enqueue/assign/complete/read with
// leases that never run out during the test (expiry has its own tests in
// store/): the states and outcomes store.Tx documents.
type lzState struct {
	status string // "" (unknown id), queued, assigned, completed
	holder string // current or last lease holder
	result string // node whose result was accepted
	late   bool   // a late result was recorded on the holder's attempt
}

type lzInput struct {
	op   string // enqueue, assign, complete, read
	key  uint64
	node string
}

type lzOutput struct {
	unknown bool   // the write's outcome was indeterminate
	out     string // outcome or status
}

func lzStep(s lzState, in lzInput) (lzState, string) {
	switch in.op {
	case "enqueue":
		if s.status == "" {
			s.status = "queued"
			return s, store.Enqueued.String()
		}
		return s, store.AlreadyKnown.String()
	case "assign":
		switch s.status {
		case "":
			return s, "not_found"
		case "queued":
			s.status, s.holder = "assigned", in.node
			return s, "ok"
		default:
			return s, "invalid_transition"
		}
	case "complete":
		if s.status == "" {
			return s, "not_found"
		}
		if s.status == "assigned" && s.holder == in.node {
			s.status, s.result = "completed", in.node
			return s, store.Accepted.String()
		}
		if s.result == in.node {
			return s, store.Duplicate.String()
		}
		if s.holder != in.node {
			return s, "not_holder"
		}
		if s.late {
			return s, store.Duplicate.String()
		}
		s.late = true
		return s, store.Late.String()
	case "read":
		if s.status == "" {
			return s, "none"
		}
		return s, s.status
	}
	return s, "?"
}

var lzModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[uint64][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(lzInput).key
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(byKey))
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return lzState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(lzState), input.(lzInput), output.(lzOutput)
		next, want := lzStep(s, in)
		if out.unknown {
			return true, next
		}
		return want == out.out, next
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(lzInput), output.(lzOutput)
		if out.unknown {
			return fmt.Sprintf("%s(%d,%s) -> ?", in.op, in.key, in.node)
		}
		return fmt.Sprintf("%s(%d,%s) -> %s", in.op, in.key, in.node, out.out)
	},
}

// classify turns an Apply error into a model outcome. keep is false when
// the operation certainly did not happen (it can be left out of the
// history); unknown is true when it may or may not have happened.
func classify(err error) (out string, unknown, keep bool) {
	switch {
	case err == nil:
		return "", false, true
	case errors.Is(err, store.ErrNotFound):
		return "not_found", false, true
	case errors.Is(err, store.ErrInvalidTransition):
		return "invalid_transition", false, true
	case errors.Is(err, store.ErrNotHolder):
		return "not_holder", false, true
	case errors.Is(err, ErrIndeterminate):
		return "", true, true
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader), errors.Is(err, ErrClosed):
		return "", false, false
	default:
		return "", true, true
	}
}

func TestLinearizableUnderLeaderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster chaos test")
	}
	c := newTestCluster(t, nil)
	c.bootstrap(3)

	const (
		clients   = 4
		keys      = 12
		opsEach   = 120
		kills     = 2
		opTimeout = 3 * time.Second
	)
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		done    atomic.Int64
		start   = time.Now()
		acked   sync.Map // key → true once an enqueue was acknowledged
		accepts sync.Map // key → client name whose Complete was Accepted
	)
	dup := atomic.Bool{}
	record := func(client int, in lzInput, call int64, out lzOutput, ret int64) {
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
		mu.Unlock()
	}

	var wg sync.WaitGroup
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 7))
			name := fmt.Sprintf("worker-%d", cl)
			for i := 0; i < opsEach; i++ {
				target := (cl + i) % 3
				n := c.node(target)
				for n == nil {
					target = (target + 1) % 3
					n = c.node(target)
				}
				key := uint64(rng.IntN(keys) + 1)
				in := lzInput{key: key, node: name}
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				call := time.Since(start).Nanoseconds()
				var outcome string
				var err error
				switch r := rng.IntN(10); {
				case r < 3:
					in.op = "enqueue"
					var res Result
					res, err = n.Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(key)}})
					if err == nil {
						outcome = res.Enqueued[0].String()
						acked.Store(key, true)
					}
				case r < 5:
					in.op = "assign"
					_, err = n.Apply(ctx, &Assign{ID: key, Node: name, LeaseUntil: time.Now().Add(time.Hour)})
					if err == nil {
						outcome = "ok"
					}
				case r < 7:
					in.op = "complete"
					var res Result
					res, err = n.Apply(ctx, &Complete{ID: key, Node: name, Result: store.Result{Success: true, Output: []byte(name)}})
					if err == nil {
						outcome = res.Completed.String()
						if res.Completed == store.Accepted {
							if prev, loaded := accepts.LoadOrStore(key, name); loaded {
								t.Errorf("request %d accepted twice: by %v and by %s", key, prev, name)
								dup.Store(true)
							}
						}
					}
				default:
					in.op = "read"
					err = n.LinearizableRead(ctx)
					if err == nil {
						j, gerr := n.Store().Get(key)
						switch {
						case gerr == nil:
							outcome = string(j.Status)
						case errors.Is(gerr, store.ErrNotFound):
							outcome = "none"
						default:
							err = gerr
						}
					}
				}
				cancel()
				ret := time.Since(start).Nanoseconds()
				done.Add(1)
				if in.op == "read" {
					if err == nil {
						record(cl, in, call, lzOutput{out: outcome}, ret)
					}
					continue
				}
				eout, unknown, keep := classify(err)
				if !keep {
					continue
				}
				if err == nil {
					eout = outcome
				}
				if unknown {
					record(cl, in, call, lzOutput{unknown: true}, math.MaxInt64)
					continue
				}
				record(cl, in, call, lzOutput{out: eout}, ret)
			}
		}(cl)
	}

	// Chaos: kill the leader a few times while the clients run, restarting
	// it once a new leader took over.
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for k := 1; k <= kills; k++ {
			threshold := int64(k * clients * opsEach / (kills + 2))
			for done.Load() < threshold {
				if done.Load() >= clients*opsEach {
					return
				}
				time.Sleep(5 * time.Millisecond) // pacing the chaos, not synchronising the test
			}
			l := -1
			for i := 0; i < 3; i++ {
				if n := c.node(i); n != nil && n.IsLeader() {
					l = i
				}
			}
			if l < 0 {
				continue
			}
			c.stop(l)
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				other := c.node((l + 1) % 3)
				if other != nil && other.Leader() != "" && other.Leader() != c.dirsPeer(l) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.start(l)
		}
	}()
	wg.Wait()
	<-chaosDone

	mu.Lock()
	ops := history
	mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(lzModel, ops, 30*time.Second)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		_ = porcupine.VisualizePath(lzModel, info, path)
		t.Fatalf("history of %d operations is not linearizable (%v); visualisation in %s", len(ops), res, path)
	}
	t.Logf("%d operations linearizable; %d leader kills", len(ops), kills)

	// No acknowledged request lost; none completed twice.
	ctx := ctxT(t, 30*time.Second)
	l := c.leader()
	if err := c.node(l).LinearizableRead(ctx); err != nil {
		t.Fatal(err)
	}
	acked.Range(func(k, _ any) bool {
		id := k.(uint64)
		c.waitReplicated(id, mustStatus(t, c, l, id))
		j, _ := c.jobOn(l, id)
		accepted := 0
		for _, a := range j.Attempts {
			if a.Outcome == store.AttemptCompleted {
				accepted++
			}
		}
		if accepted > 1 || (j.Status == store.StatusCompleted && accepted != 1) {
			t.Errorf("request %d: %d accepted attempts with status %s", id, accepted, j.Status)
		}
		if who, ok := accepts.Load(id); ok && (j.Result == nil || j.Result.Node != who.(string)) {
			t.Errorf("request %d: %s was told its result was accepted but the stored result is %+v", id, who, j.Result)
		}
		return true
	})
	if dup.Load() {
		t.Fatal("a request was accepted twice")
	}
}

func mustStatus(t *testing.T, c *testCluster, i int, id uint64) store.Status {
	t.Helper()
	j, err := c.jobOn(i, id)
	if err != nil {
		t.Fatalf("acknowledged request %d is missing on the leader: %v", id, err)
	}
	return j.Status
}

// dirsPeer returns the peer id node i had (it survives restarts).
func (c *testCluster) dirsPeer(i int) (id peerID) {
	return peerIDOfDir(c.t, c.dirs[i])
}
