package devchain

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// Queries with a block_id answer from that block's state: contract data,
// balances, keys and accounts created later. Blocks a restart left without
// their state changes answer GARBAGE_COLLECTED_BLOCK, blocks beyond the
// window UNKNOWN_BLOCK.
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

	// After a restart, the blocks before it have no state history.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, cl2, _ := startChain(t, Config{Home: home, Persist: true, KeepBlocks: 1000})
	_, err = cl2.ViewAccount(ctx, bob, near.AtHeight(twoKeys))
	if !errors.As(err, &rpcErr) || rpcErr.Cause.Name != "GARBAGE_COLLECTED_BLOCK" {
		t.Fatalf("query at a block before the restart: %v", err)
	}
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
