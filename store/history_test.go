package store

import (
	"errors"
	"testing"
)

func collectIDs(t *testing.T, fetch func(Page) (PageResult, error), limit int) []uint64 {
	t.Helper()
	var ids []uint64
	p := Page{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not terminate")
		}
		res, err := fetch(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) > limit {
			t.Fatalf("page of %d, limit %d", len(res.Jobs), limit)
		}
		for _, j := range res.Jobs {
			ids = append(ids, j.ID)
		}
		if res.NextToken == "" {
			return ids
		}
		p.Token = res.NextToken
	}
}

func TestHistoryLatestAndBySenderPaging(t *testing.T) {
	s := openTemp(t)
	// ids 0..29; sampleRequest sends id from caller(id%7).

	for id := uint64(0); id < 30; id++ {
		mustEnqueue(t, s, id)

	}
	for _, limit := range []int{1, 4, 7, 30, 100} {
		got := collectIDs(t, s.Latest, limit)
		if len(got) != 30 {
			t.Fatalf("limit %d: %d ids: %v", limit, len(got), got)
		}
		for i, id := range got {
			if id != uint64(29-i) {
				t.Fatalf("limit %d: latest order %v", limit, got)
			}
		}
	}
	// caller3 sent 3, 10, 17, 24.
	for _, limit := range []int{1, 3, 10} {
		got := collectIDs(t, func(p Page) (PageResult, error) { return s.BySender("caller3.testnet", p) }, limit)
		want := []uint64{24, 17, 10, 3}
		if len(got) != len(want) {
			t.Fatalf("by sender limit %d: %v", limit, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("by sender limit %d: %v, want %v", limit, got, want)
			}
		}
	}
	// A sender whose name is a prefix of another's must not see theirs.
	r := sampleRequest(100)
	r.Sender = "caller3.testnet.sub"
	if _, err := s.Enqueue(r, nil, t0); err != nil {
		t.Fatal(err)
	}
	if got := collectIDs(t, func(p Page) (PageResult, error) { return s.BySender("caller3.testnet", p) }, 10); len(got) != 4 {
		t.Fatalf("prefix sender leaked: %v", got)
	}
	if res, _ := s.BySender("nobody.testnet", Page{}); len(res.Jobs) != 0 || res.NextToken != "" {
		t.Fatalf("unknown sender: %+v", res)
	}
	// The last sender in key order (tests the seek-past-the-end path).
	r = sampleRequest(101)
	r.Sender = "zzz.testnet"
	s.Enqueue(r, nil, t0)
	if got := collectIDs(t, func(p Page) (PageResult, error) { return s.BySender("zzz.testnet", p) }, 1); len(got) != 1 || got[0] != 101 {
		t.Fatalf("last sender: %v", got)
	}
	if _, err := s.Latest(Page{Token: "nonsense"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad token: %v", err)
	}
	if res, _ := s.Latest(Page{Limit: 5000}); len(res.Jobs) != 32 {
		t.Fatalf("large limit: %d", len(res.Jobs))
	}

}
