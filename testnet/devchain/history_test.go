package devchain

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// Queries with a block_id answer from that block's state, also after a
// restart: contract data, balances, keys and accounts created later. Blocks
// a restart left without
// their state changes (a format-1 state file) answer GARBAGE_COLLECTED_BLOCK,
// blocks beyond the window UNKNOWN_BLOCK.
func TestQueriesAtPastBlocks(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	c, cl, root := startChain(t, Config{Home: home, Persist: true, KeepBlocks: 1000})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	var heights []uint64
	for range 3 {
		out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cl.Block(ctx, near.AtHash(out.ReceiptsOutcome[0].BlockHash))
		if err != nil {
			t.Fatal(err)
		}
		heights = append(heights, b.Header.Height)
	}
	for i, h := range heights {
		var n int
		if err := cl.ViewFunctionAt(ctx, counter.AccountID(), "get_num", nil, &n, near.AtHeight(h)); err != nil || n != i+1 {
			t.Fatalf("get_num at %d = %d, %v; want %d", h, n, err, i+1)
		}
		st, err := cl.ViewState(ctx, counter.AccountID(), nil, near.AtHeight(h-1))
		if err != nil || (i == 0) != (len(st.Values) == 0) {
			t.Fatalf("view_state at %d = %+v, %v", h-1, st, err)
		}
	}

	// An account created later did not exist before; its key was there until deleted.
	kp, _ := near.GenerateKeyPair(rand.Reader)
	before := c.Height()
	bob := "bob." + root.AccountID()
	if _, err := root.CreateAccount(ctx, bob, kp.PublicKey(), near.OneNEAR); err != nil {
		t.Fatal(err)
	}
	_, err := cl.ViewAccount(ctx, bob, near.AtHeight(before))
	var rpcErr *near.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Cause.Name != "UNKNOWN_ACCOUNT" {
		t.Fatalf("bob before he was created: %v", err)
	}
	bobSigner, _ := near.NewSigner(cl, bob, kp, near.WithWaitUntil(near.TxFinal))
	kp2, _ := near.GenerateKeyPair(rand.Reader)
	if _, err := bobSigner.SignAndSend(ctx, bob, near.AddKey{PublicKey: kp2.PublicKey(), AccessKey: near.FullAccessKey()}); err != nil {
		t.Fatal(err)
	}
	twoKeys := c.Height()
	if _, err := bobSigner.SignAndSend(ctx, bob, near.DeleteKey{PublicKey: kp2.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if l, err := cl.ViewAccessKeyList(ctx, bob, near.AtHeight(twoKeys)); err != nil || len(l.Keys) != 2 {
		t.Fatalf("bob's keys at %d = %+v, %v", twoKeys, l, err)
	}
	if l, err := cl.ViewAccessKeyList(ctx, bob, near.Final()); err != nil || len(l.Keys) != 1 {
		t.Fatalf("bob's keys now = %+v, %v", l, err)
	}
	acc, err := cl.ViewAccount(ctx, bob, near.AtHeight(twoKeys))
	if err != nil || acc.BlockHeight != twoKeys {
		t.Fatalf("view_account at %d = %+v, %v", twoKeys, acc, err)
	}

	// The history survives a restart.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, cl2, _ := startChain(t, Config{Home: home, Persist: true, KeepBlocks: 1000})
	if l, err := cl2.ViewAccessKeyList(ctx, bob, near.AtHeight(twoKeys)); err != nil || len(l.Keys) != 2 {
		t.Fatalf("after a restart, bob's keys at %d = %+v, %v", twoKeys, l, err)
	}
	var n int
	if err := cl2.ViewFunctionAt(ctx, counter.AccountID(), "get_num", nil, &n, near.AtHeight(heights[0])); err != nil || n != 1 {
		t.Fatalf("after a restart, get_num at %d = %d, %v", heights[0], n, err)
	}
	// A format-1 state file has no state changes: its blocks answer
	// GARBAGE_COLLECTED_BLOCK rather than the wrong state.
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "devchain-state.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	file["format"] = 1
	for _, b := range file["blocks"].([]any) {
		delete(b.(map[string]any), "changes")
	}
	if raw, err = json.Marshal(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c3, cl3, _ := startChain(t, Config{Home: home, Persist: true, KeepBlocks: 1000})
	_, err = cl3.ViewAccount(ctx, bob, near.AtHeight(twoKeys))
	if !errors.As(err, &rpcErr) || rpcErr.Cause.Name != "GARBAGE_COLLECTED_BLOCK" {
		t.Fatalf("query at a block of a format-1 file: %v", err)
	}
	c2, cl2 = c3, cl3
	if err := c2.FastForward(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	_, err = cl2.ViewAccount(ctx, bob, near.AtHeight(before))
	if !errors.As(err, &rpcErr) || rpcErr.Cause.Name != "UNKNOWN_BLOCK" {
		t.Fatalf("query at a block beyond the window: %v", err)
	}
	if _, err := cl2.ViewAccount(ctx, bob, near.Final()); err != nil {
		t.Fatal(err)
	}
}
