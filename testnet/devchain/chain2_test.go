package devchain

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// Gas bookkeeping is conserved: what the signer loses is exactly the tokens
// burnt by the transaction and all its receipts, once refunds have run.
func TestGasIsPaidExactlyOnce(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	xcc := newContractAccount(t, ctx, root, "xcc", "xcc", 10)
	final := near.BlockReference{Finality: "final"}
	balances := func() (r, x, c near.U128) {
		a, _ := cl.ViewAccount(ctx, root.AccountID(), final)
		b, _ := cl.ViewAccount(ctx, xcc.AccountID(), final)
		d, _ := cl.ViewAccount(ctx, counter.AccountID(), final)
		return a.Amount, b.Amount, d.Amount
	}
	r0, x0, c0 := balances()
	out, err := root.CallFunction(ctx, xcc.AccountID(), "call",
		map[string]any{"contract": counter.AccountID(), "method": "increment", "args": map[string]any{}}, 200_000_000_000_000, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	burnt := out.TransactionOutcome.Outcome.TokensBurnt
	var refunds int
	for _, o := range out.ReceiptsOutcome {
		burnt, _ = burnt.Add(o.Outcome.TokensBurnt)
		if o.Outcome.GasBurnt == 0 {
			refunds++
		}
	}
	r1, x1, c1 := balances()
	spent, _ := r0.Sub(r1)
	if spent != burnt {
		t.Fatalf("signer spent %s yocto, outcomes burnt %s", spent, burnt)
	}
	if x0 != x1 || c0 != c1 {
		t.Fatalf("contracts' balances changed: xcc %s -> %s, counter %s -> %s", x0, x1, c0, c1)
	}
	if refunds == 0 {
		t.Fatal("no gas refund receipt")
	}
	// Prepaid gas far beyond the use was refunded: the call cost < 0.01 NEAR.
	limit, _ := near.ParseNEAR("0.01")
	if spent.Cmp(limit) >= 0 {
		t.Fatalf("call cost %s yocto", spent)
	}
}

// A client can find a contract's receipts and logs by scanning blocks and
// chunks, then reading the transaction's status with receipts.
func TestScanBlocksForReceipts(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	from := c.Height()
	out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	txHash, _ := out.TxHash()
	var foundTx, foundReceipt bool
	for h := from; h <= c.Height(); h++ {
		blk, err := cl.Block(ctx, near.AtHeight(h))
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		ch, err := cl.Chunk(ctx, blk.Chunks[0].ChunkHash)
		if err != nil {
			t.Fatalf("chunk of block %d: %v", h, err)
		}
		for _, tx := range ch.Transactions {
			foundTx = foundTx || tx.Hash == txHash
		}
		for _, r := range ch.Receipts {
			foundReceipt = foundReceipt || r.ReceiverID == counter.AccountID()
		}
	}
	if !foundTx || !foundReceipt {
		t.Fatalf("scan found tx %v, receipt %v", foundTx, foundReceipt)
	}
	st, err := cl.TxStatusWithReceipts(ctx, txHash, root.AccountID(), near.TxFinal)
	if err != nil || len(st.Receipts) < 2 {
		t.Fatalf("EXPERIMENTAL_tx_status: %v, %d receipts", err, len(st.Receipts))
	}
	if _, err := cl.Block(ctx, near.AtHeight(c.Height()+1000)); err == nil {
		t.Fatal("a future block was found")
	}
}

func TestDeleteKeyAndAccount(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	final := near.BlockReference{Finality: "final"}
	bob := newContractAccount(t, ctx, root, "bob", "", 3)
	extra, _ := near.GenerateKeyPair(rand.Reader)
	if _, err := bob.AddKey(ctx, extra.PublicKey(), near.FullAccessKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AddKey(ctx, extra.PublicKey(), near.FullAccessKey()); err == nil || !strings.Contains(err.Error(), "AddKeyAlreadyExists") {
		t.Fatalf("adding a key twice: %v", err)
	}
	if _, err := bob.DeleteKey(ctx, extra.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.DeleteKey(ctx, extra.PublicKey()); err == nil || !strings.Contains(err.Error(), "DeleteKeyDoesNotExist") {
		t.Fatalf("deleting a missing key: %v", err)
	}
	before, _ := cl.ViewAccount(ctx, root.AccountID(), final)
	if _, err := bob.SignAndSend(ctx, bob.AccountID(), near.DeleteAccount{BeneficiaryID: root.AccountID()}); err != nil {
		t.Fatal(err)
	}
	var rpcErr *near.RPCError
	if _, err := cl.ViewAccount(ctx, bob.AccountID(), final); !errors.As(err, &rpcErr) || rpcErr.CauseName() != "UNKNOWN_ACCOUNT" {
		t.Fatalf("deleted account: %v", err)
	}
	after, _ := cl.ViewAccount(ctx, root.AccountID(), final)
	if after.Amount.Cmp(before.Amount) <= 0 {
		t.Fatalf("beneficiary did not receive the balance: %s -> %s", before.Amount, after.Amount)
	}
}

func TestOversizedTransaction(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	_, err := root.SignAndSend(ctx, root.AccountID(), near.DeployContract{Code: make([]byte, 1_600_000)})
	var rpcErr *near.RPCError
	if !errors.As(err, &rpcErr) {
		t.Fatalf("oversized deploy: %v", err)
	}
	if txErr, ok := rpcErr.TxExecutionError(); !ok || txErr.Kind() != "TransactionSizeExceeded" {
		t.Fatalf("oversized deploy: %v", err)
	}
	acc, _ := cl.ViewAccount(ctx, root.AccountID(), near.BlockReference{Finality: "final"})
	if !acc.CodeHash.IsZero() {
		t.Fatal("code was deployed")
	}
}

// Concurrent senders sharing one key: every call lands exactly once.
func TestConcurrentSenders(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	const workers, each = 4, 5
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				_, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
				errs <- err
			}
		}()
	}
	for i := 0; i < workers*each; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != workers*each {
		t.Fatalf("get_num = %d, %v; want %d", n, err, workers*each)
	}
}

// The small RPC methods and the EXPERIMENTAL_ view aliases.
func TestStatusGasPriceAndAliases(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	st, err := cl.Status(ctx)
	if err != nil || st.ChainID != "localnet" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	price, err := cl.GasPrice(ctx, nil)
	if err != nil || price != near.NewU128(GasPrice) {
		t.Fatalf("gas_price = %s, %v", price, err)
	}
	var acc near.AccountView
	if err := cl.Call(ctx, "EXPERIMENTAL_view_account", map[string]any{"account_id": root.AccountID(), "finality": "final"}, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Amount.IsZero() || acc.StorageUsage != 182 {
		t.Fatalf("EXPERIMENTAL_view_account = %+v (a fresh account with one key uses 182 bytes)", acc)
	}
	var rpcErr *near.RPCError
	if err := cl.Call(ctx, "no_such_method", map[string]any{}, &acc); !errors.As(err, &rpcErr) || rpcErr.CauseName() != "METHOD_NOT_FOUND" {
		t.Fatalf("unknown method: %v", err)
	}
	before := c.Height()
	if err := cl.SandboxFastForward(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if c.Height() < before+50 {
		t.Fatalf("height %d after fast-forwarding 50 from %d", c.Height(), before)
	}
}

// TestBoundedHistory keeps a small window: blocks, chunks and transactions
// that fell out of it answer NEAR's UNKNOWN_* errors, recent ones still
// answer, and the chain's maps stay bounded through a long fast-forward.
func TestBoundedHistory(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{KeepBlocks: 50, KeepTransactions: 3})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	var first near.CryptoHash
	var firstBlock near.CryptoHash
	var chunk near.CryptoHash
	for i := range 5 {
		out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, _ = out.TxHash()
			firstBlock = out.TransactionOutcome.BlockHash
			b, err := cl.Block(ctx, near.AtHash(firstBlock))
			if err != nil {
				t.Fatal(err)
			}
			chunk = b.Chunks[0].ChunkHash
			if ch, err := cl.Chunk(ctx, chunk); err != nil || len(ch.Transactions) != 1 {
				t.Fatalf("chunk of the first call = %+v, %v", ch, err)
			}
		}
	}
	last, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	lastHash, _ := last.TxHash()
	if err := cl.SandboxFastForward(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.TxStatus(ctx, first, root.AccountID(), near.TxNone); !errors.Is(err, near.ErrUnknownTransaction) {
		t.Fatalf("status of a forgotten transaction: %v, want UNKNOWN_TRANSACTION", err)
	}
	if out, err := cl.TxStatus(ctx, lastHash, root.AccountID(), near.TxFinal); err != nil || len(out.ReceiptsOutcome) == 0 {
		t.Fatalf("status of a recent transaction: %+v, %v", out, err)
	}
	if _, err := cl.Block(ctx, near.AtHash(firstBlock)); !errors.Is(err, near.ErrUnknownBlock) {
		t.Fatalf("old block by hash: %v, want UNKNOWN_BLOCK", err)
	}
	if _, err := cl.Block(ctx, near.AtHeight(2)); !errors.Is(err, near.ErrUnknownBlock) {
		t.Fatalf("old block by height: %v, want UNKNOWN_BLOCK", err)
	}
	if _, err := cl.Chunk(ctx, chunk); !errors.Is(err, near.ErrUnknownChunk) {
		t.Fatalf("old chunk: %v, want UNKNOWN_CHUNK", err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := st.SyncInfo.LatestBlockHeight; *st.SyncInfo.EarliestBlockHeight != h-49 {
		t.Fatalf("earliest block %d, latest %d: want a 50-block window", *st.SyncInfo.EarliestBlockHeight, h)
	}
	if _, err := cl.Block(ctx, near.AtHeight(*st.SyncInfo.EarliestBlockHeight)); err != nil {
		t.Fatalf("earliest retained block: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.blocks) != 50 {
		t.Fatalf("retained %d blocks, want 50", len(c.blocks))
	}
	if len(c.included) > 3 || len(c.txs) > 3 {
		t.Fatalf("retained %d included / %d known transactions, want at most 3", len(c.included), len(c.txs))
	}
	if len(c.received) != 0 || len(c.postponed) != 0 || len(c.waitingData) != 0 || len(c.yields) != 0 {
		t.Fatalf("leftover receipt state: %d received, %d postponed, %d waiting, %d yields",
			len(c.received), len(c.postponed), len(c.waitingData), len(c.yields))
	}
}
