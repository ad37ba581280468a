package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestNodes(t *testing.T) {
	s := openTemp(t)
	n := Node{
		PeerID:             "12D3KooWA",
		Addresses:          []string{"/ip4/127.0.0.1/tcp/2", "/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"},
		Role:               RoleVoter,
		Attestation:        []byte{1, 2, 3},
		AttestationSummary: "SIMULATED tdx quote, measurement ok",
		JoinedAt:           t0,
	}
	if err := s.PutNode(n); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNode(Node{PeerID: "12D3KooWB", Role: RoleNonVoter, JoinedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Node("12D3KooWA")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Addresses) != 2 || got.Addresses[0] != "/ip4/127.0.0.1/tcp/1" || !bytes.Equal(got.Attestation, []byte{1, 2, 3}) || got.Role != RoleVoter {
		t.Fatalf("node record: %+v", got)
	}
	if err := s.Update(func(tx *Tx) error { return tx.TouchNode("12D3KooWA", t0.Add(time.Minute)) }); err != nil {
		t.Fatal(err)
	}
	s.Update(func(tx *Tx) error { return tx.TouchNode("12D3KooWA", t0) }) // older: ignored
	if got, _ := s.Node("12D3KooWA"); !got.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last seen %v", got.LastSeen)
	}
	all, _ := s.Nodes()
	if len(all) != 2 || all[0].PeerID != "12D3KooWA" || all[1].Role != RoleNonVoter {
		t.Fatalf("nodes %+v", all)
	}
	if err := s.PutNode(Node{PeerID: "x", Role: "boss"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad role: %v", err)
	}
	if err := s.PutNode(Node{Role: RoleVoter}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("no peer id: %v", err)
	}
	if err := s.RemoveNode("12D3KooWA"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node("12D3KooWA"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed node: %v", err)
	}
	if err := s.RemoveNode("12D3KooWA"); err != nil {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestKeystore(t *testing.T) {
	s := openTemp(t)
	sealed := []byte("sealed-master-secret")
	if err := s.PutSealed("master/nodeA", sealed); err != nil {
		t.Fatal(err)
	}
	sealed[0] = 'X' // the store keeps its own copy
	s.PutSealed("master/nodeB", []byte("b"))
	s.PutSealed("secret/alice/default", []byte("c"))
	got, err := s.Sealed("master/nodeA")
	if err != nil || string(got) != "sealed-master-secret" {
		t.Fatalf("get: %q %v", got, err)
	}
	names, _ := s.SealedNames("master/")
	if len(names) != 2 || names[0] != "master/nodeA" || names[1] != "master/nodeB" {
		t.Fatalf("names %v", names)
	}
	if all, _ := s.SealedNames(""); len(all) != 3 {
		t.Fatalf("all names %v", all)
	}
	s.DeleteSealed("master/nodeA")
	if _, err := s.Sealed("master/nodeA"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	if err := s.PutSealed("", []byte("x")); !errors.Is(err, ErrBadInput) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestUpdateErrorRollsBackEverything(t *testing.T) {
	s := openTemp(t)
	before, _ := s.Digest()
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.Enqueue(sampleRequest(1), cursorAt(5), t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error: %v", err)
	}
	if after, _ := s.Digest(); after != before {
		t.Fatal("a failed Update left writes behind")
	}
}

// TestStatusCountsMatchRecords checks the per-status counters against a scan
// of every record after a long random log.
func TestStatusCountsMatchRecords(t *testing.T) {
	s := openFast(t)
	for _, o := range randomOps(99, 2000) {
		s.Update(o)
	}
	scan := map[Status]uint64{}
	for p := (Page{Limit: MaxPageSize}); ; {
		res, err := s.Latest(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range res.Jobs {
			scan[j.Status]++
		}
		if res.NextToken == "" {
			break
		}
		p.Token = res.NextToken
	}
	counts, _ := s.Counts()
	if len(scan) < 3 {
		t.Fatalf("log too weak: %v", scan)
	}
	for st, n := range scan {
		if counts[st] != n {
			t.Fatalf("counts %v, scan %v", counts, scan)
		}
	}
	for st, n := range counts {
		if scan[st] != n {
			t.Fatalf("counts %v, scan %v", counts, scan)
		}
	}
	t.Logf("counts %v", counts)
}
