package devchain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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

// Contract storage keys and values are arbitrary bytes: every one of them,
// including bytes that are not UTF-8, survives a save and a load.
func TestSnapshotRoundTripsBinaryStorage(t *testing.T) {
	home := t.TempDir()
	c, err := New(Config{Home: home, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 512 {
		k := make([]byte, 1+rng.IntN(40))
		for j := range k {
			k[j] = byte(rng.UintN(256))
		}
		k[0] = byte(i) // every first byte, 0x00-0xff, at least once
		v := make([]byte, rng.IntN(64))
		for j := range v {
			v[j] = byte(rng.UintN(256))
		}
		want[string(k)] = v
	}
	want["r:\x00\x00\x00\x00\x00\x00\x00\x80"] = []byte{0xff, 0xfe}
	want["r:\x00\x00\x00\x00\x00\x00\x00\x81"] = []byte{}
	want["\xef\xbf\xbd"] = []byte("a real U+FFFD key") // valid UTF-8, must not be mistaken for a lost one
	root := c.st.accounts[c.RootAccount()]
	for k, v := range want {
		root.Data[k] = v
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := New(Config{Home: home, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := c2.st.accounts[c2.RootAccount()].Data
	if len(got) != len(want) {
		t.Fatalf("%d storage entries after reload, want %d", len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Fatalf("key %x: got %x (present %v), want %x", k, g, ok, v)
		}
	}
}

// A state file from before the storage format change is migrated when none
// of its keys can have lost bytes, and refused with an explanation when one
// can; a file from a newer format is refused too. Nothing is overwritten.
func TestLegacySnapshotMigratedOrRefused(t *testing.T) {
	for _, tc := range []struct {
		name, data, refuse string
		format             int
	}{
		{name: "clean legacy file migrates", data: `{"num":"AQ==","r:abc":"Ag=="}`},
		{name: "lossy legacy file is refused", data: `{"r:\u0000\u0000\u0000\u0000\u0000\u0000\u0000\ufffd":"AQ=="}`, refuse: "U+FFFD"},
		{name: "newer format is refused", data: `{}`, format: 99, refuse: "format 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			c, err := New(Config{Home: home, Persist: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(home, "devchain-state.json")
			var raw map[string]any
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			// Rewrite the file as the old format wrote it.
			delete(raw, "format")
			if tc.format != 0 {
				raw["format"] = tc.format
			}
			accounts := raw["accounts"].(map[string]any)
			acc := accounts["test.near"].(map[string]any)
			delete(acc, "storage")
			acc["data"] = json.RawMessage(tc.data)
			if b, err = json.Marshal(raw); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			c2, err := New(Config{Home: home, Persist: true})
			if tc.refuse != "" {
				if err == nil {
					c2.Close()
					t.Fatalf("loaded; want a refusal mentioning %q", tc.refuse)
				}
				if !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("error %q does not mention %q", err, tc.refuse)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
					t.Fatal("the refused file was changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data := c2.st.accounts["test.near"].Data
			if len(data) != 2 || !bytes.Equal(data["num"], []byte{1}) || !bytes.Equal(data["r:abc"], []byte{2}) {
				t.Fatalf("migrated data = %q", data)
			}
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(fmt.Sprintf(`"format":%d`, snapshotFormat))) || bytes.Contains(b, []byte(`"data":{`)) {
				t.Fatalf("the migrated file was not saved in the new format: %.300s", b)
			}
		})
	}
}
