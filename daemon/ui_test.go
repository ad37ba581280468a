package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
)

// The request page's executor keys are read from the chain at most once
// per executorsCacheFor however many pages ask at once; a failed read is
// not kept, and the next one after the window reads again.
func TestExecutorsCache(t *testing.T) {
	var mu sync.Mutex
	views := map[string]int{}
	var fail error
	keys := `[{"public_key":"ed25519:A","node_id":"n0","added_by":"owner","added_at":1}]`
	chain := &fakeChain{view: func(method string, _ any, out any) error {
		mu.Lock()
		defer mu.Unlock()
		views[method]++
		if fail != nil {
			return fail
		}
		raw := out.(*json.RawMessage)
		switch method {
		case "get_agreement":
			*raw = json.RawMessage(`{"chain_id":"testchain","default_signatures":2}`)
		case "list_executor_keys":
			*raw = json.RawMessage(keys)
		default:
			return errors.New("unexpected view " + method)
		}
		return nil
	}}
	c := &executorsCache{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ag, k, err := c.get(context.Background(), chain, "outlayer.test")
			if err != nil || string(k) != keys || string(ag) == "" {
				t.Errorf("cached read: %s %s %v", ag, k, err)
			}
		})
	}
	wg.Wait()
	if views["get_agreement"] != 1 || views["list_executor_keys"] != 1 {
		t.Fatalf("20 pages at once read the chain %v times, want each view once", views)
	}

	c.at = c.at.Add(-executorsCacheFor) // the window is over
	mu.Lock()
	fail = errors.New("rpc down")
	mu.Unlock()
	if _, _, err := c.get(context.Background(), chain, "outlayer.test"); err == nil {
		t.Fatal("a failed read answered from the cache")
	}
	mu.Lock()
	fail = nil
	keys = `[]`
	mu.Unlock()
	if _, k, err := c.get(context.Background(), chain, "outlayer.test"); err != nil || string(k) != `[]` {
		t.Fatalf("after a failed read: %s %v, want the chain's new answer", k, err)
	}
	if views["get_agreement"] != 3 {
		t.Fatalf("get_agreement read %d times, want 3 (once per window, and again after a failure)", views["get_agreement"])
	}
}
