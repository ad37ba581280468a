package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// hookVerifier verifies like the dev cluster does; once armed, it runs
// onVerify first (on the leader, in the middle of an admission) and counts
// the calls.
type hookVerifier struct {
	SimulatedAttestation
	armed    atomic.Bool
	calls    atomic.Int32
	onVerify func(call int32) error
}

func (v *hookVerifier) VerifyJoin(ctx context.Context, p peer.ID, nonce, evidence []byte) ([]byte, error) {
	if v.armed.Load() {
		if err := v.onVerify(v.calls.Add(1)); err != nil {
			return nil, err
		}
	}
	return v.SimulatedAttestation.VerifyJoin(ctx, p, nonce, evidence)
}

func newHookVerifier(c *testCluster, onVerify func(int32) error) *hookVerifier {
	v := &hookVerifier{SimulatedAttestation: SimulatedAttestation{Secret: []byte("consensus test cluster secret")}, onVerify: onVerify}
	c.verify = v
	return v
}

// Leadership moving while the leader admits a joiner (after it issued the
// challenge, before the joiner is in the configuration) no longer fails
// the join: the joiner starts over with the new leader. (The old leader's
// challenge is gone with its leadership, so the relay used to ask the new
// leader for it until the one-minute join window ran out.)
func TestJoinSurvivesALeaderChangeMidAdmission(t *testing.T) {
	c := newTestCluster(t, nil)
	var (
		mu        sync.Mutex
		oldLeader = -1
		handOff   error
	)
	v := newHookVerifier(c, func(call int32) error {
		if call == 1 {
			mu.Lock()
			defer mu.Unlock()
			handOff = c.node(oldLeader).HandOffLeadership()
		}
		return nil
	})
	c.bootstrap(2)
	oldLeader = c.leader()
	joiner := c.add()
	v.armed.Store(true)

	ctx := ctxT(t, 30*time.Second)
	// Through the leader, so the admission runs where leadership is lost.
	if err := c.node(joiner).Join(ctx, c.addr(oldLeader)); err != nil {
		t.Fatalf("join across a leader change: %v", err)
	}
	mu.Lock()
	herr := handOff
	mu.Unlock()
	if herr != nil {
		t.Fatalf("the test's leadership hand-off failed, so it tested nothing: %v", herr)
	}
	if got := v.calls.Load(); got < 2 {
		t.Fatalf("the leader verified the joiner %d times; want the interrupted admission and a second one", got)
	}
	if !c.node(joiner).inCluster() {
		t.Fatal("the joiner is not in the configuration it replicated")
	}
}

// A refusal is final: the joiner does not ask again.
func TestRefusedJoinIsNotRetried(t *testing.T) {
	c := newTestCluster(t, nil)
	v := newHookVerifier(c, func(int32) error { return errors.New("measurement not allowed by policy") })
	c.bootstrap(1)
	joiner := c.add()
	v.armed.Store(true)

	ctx := ctxT(t, 30*time.Second)
	err := c.node(joiner).Join(ctx, c.addr(0))
	if !errors.Is(err, ErrJoinRefused) {
		t.Fatalf("join error %v: want ErrJoinRefused", err)
	}
	if got := v.calls.Load(); got != 1 {
		t.Fatalf("the leader verified the refused joiner %d times; want 1 (no retry)", got)
	}
}

func TestLeaderChangedClassifiesJoinErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("join through x: %w", ErrNotLeader), true},
		{fmt.Errorf("join through x: %w: join_complete: %w", ErrNoLeader, ErrNotLeader), true},
		{fromWire(toWire(fmt.Errorf("%w: adding p: leadership lost", ErrNotLeader))), true},
		{fmt.Errorf("%w: attestation of p: bad quote", ErrJoinRefused), false},
		{fromWire(toWire(fmt.Errorf("%w: wrong join secret", ErrJoinRefused))), false},
		{fmt.Errorf("%w: x", ErrNotInCluster), false},
		{fmt.Errorf("%w: %w", ErrIndeterminate, ErrClosed), false},
		{errors.New("join through x: read verdict: stream reset"), false},
	} {
		if got := leaderChanged(tc.err); got != tc.want {
			t.Errorf("leaderChanged(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
