package devchain

import (
	"context"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// A persisted chain restarts where it stopped: same genesis, the next
// height after its head, its block and transaction history, block hashes
// that transactions may still name, and a yield that was pending when it
// stopped can still be resumed.
func TestRestartKeepsHistoryAndPendingYield(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	c, cl, root := startChain(t, Config{Home: home, Persist: true})
	y := newContractAccount(t, ctx, root, "yield", "yieldpair", 10)
	inc, err := root.CallFunction(ctx, y.AccountID(), "get_count", map[string]any{}, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	incHash, _ := inc.TxHash()
	incBlock, err := cl.Block(ctx, near.AtHash(inc.TransactionOutcome.BlockHash))
	if err != nil {
		t.Fatal(err)
	}
	st, err := root.Sign(ctx, y.AccountID(), near.FunctionCall{MethodName: "start", Args: []byte(`{"tag":"restart"}`), Gas: 100_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	yieldTx, err := cl.BroadcastTxAsync(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var dataID string
	for deadline := time.Now().Add(10 * time.Second); dataID == "" && time.Now().Before(deadline); {
		_ = cl.ViewFunction(ctx, y.AccountID(), "get_data_id", nil, &dataID)
	}
	if dataID == "" {
		t.Fatal("the yield was never created")
	}
	before, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, cl2, root2 := startChain(t, Config{Home: home, Persist: true})
	after, err := cl2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.GenesisHash != before.GenesisHash {
		t.Fatalf("genesis hash changed across a restart: %s -> %s", before.GenesisHash, after.GenesisHash)
	}
	if after.SyncInfo.LatestBlockHeight < before.SyncInfo.LatestBlockHeight {
		t.Fatalf("restarted at %d, was at %d", after.SyncInfo.LatestBlockHeight, before.SyncInfo.LatestBlockHeight)
	}
	// The first block after the restart follows the saved head.
	next, err := cl2.Block(ctx, near.AtHeight(before.SyncInfo.LatestBlockHeight+1))
	if err != nil {
		if err := c2.FastForward(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if next, err = cl2.Block(ctx, near.AtHeight(before.SyncInfo.LatestBlockHeight+1)); err != nil {
			t.Fatal(err)
		}
	}
	if next.Header.PrevHash != before.SyncInfo.LatestBlockHash {
		t.Fatalf("block %d has prev_hash %s, want the saved head %s", next.Header.Height, next.Header.PrevHash, before.SyncInfo.LatestBlockHash)
	}
	// Old blocks, chunks and transactions still answer.
	old, err := cl2.Block(ctx, near.AtHeight(incBlock.Header.Height))
	if err != nil || old.Header.Hash != incBlock.Header.Hash {
		t.Fatalf("block %d after restart = %v, %v", incBlock.Header.Height, old, err)
	}
	ch, err := cl2.Chunk(ctx, old.Chunks[0].ChunkHash)
	if err != nil || len(ch.Transactions) != 1 || ch.Transactions[0].Hash != incHash {
		t.Fatalf("chunk after restart = %+v, %v", ch, err)
	}
	if out, err := cl2.TxStatus(ctx, incHash, root.AccountID(), near.TxFinal); err != nil || out.Status == nil || !out.Status.IsSuccess() {
		t.Fatalf("old transaction after restart = %+v, %v", out, err)
	}
	// A transaction may name a block from before the restart.
	ak, err := cl2.ViewAccessKey(ctx, root2.AccountID(), c2.RootKey().PublicKey(), near.Final())
	if err != nil {
		t.Fatal(err)
	}
	resume := c2.RootKey().SignTransaction(near.Transaction{SignerID: root2.AccountID(), PublicKey: c2.RootKey().PublicKey(), Nonce: ak.Nonce + 1,
		ReceiverID: y.AccountID(), BlockHash: incBlock.Header.Hash,
		Actions: []near.Action{near.FunctionCall{MethodName: "resume", Args: []byte(`{"data_id":"` + dataID + `","payload":"after restart"}`), Gas: 100_000_000_000_000}}})
	out, err := cl2.SendTx(ctx, resume, near.TxFinal)
	if err != nil {
		t.Fatalf("resume after restart: %v", err)
	}
	var accepted bool
	if err := out.DecodeResult(&accepted); err != nil || !accepted {
		t.Fatalf("resume of the yield pending across the restart = %v, %v", accepted, err)
	}
	out, err = cl2.TxStatus(ctx, yieldTx, root.AccountID(), near.TxFinal)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "after restart" {
		t.Fatalf("the yield started before the restart finished with %q, %v", got, err)
	}
}
