package near_test

// End-to-end tests of the client against the real devchain, started in this
// process on loopback. (An external test package, so that contracts/near
// itself does not depend on testnet.)

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
)

func startDevchain(t *testing.T, cfg devchain.Config) (*devchain.Chain, *near.Client, *near.Signer) {
	t.Helper()
	cfg.Home = t.TempDir()
	cfg.RPCAddr = "127.0.0.1:0"
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 20 * time.Millisecond
	}
	chain, err := devchain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := chain.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := chain.Close(); err != nil {
			t.Error(err)
		}
	})
	client := near.NewClient(chain.RPCURL())
	acct, kp, err := near.LoadKeyFile(chain.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	root, err := near.NewSigner(client, acct, kp)
	if err != nil {
		t.Fatal(err)
	}
	return chain, client, root
}

// newAccount creates name.<root> with a fresh key and returns its signer.
func newAccount(t *testing.T, ctx context.Context, root *near.Signer, name string, balanceNEAR uint64) *near.Signer {
	t.Helper()
	kp, err := near.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	id := name + "." + root.AccountID()
	amount, _ := near.OneNEAR.Mul64(balanceNEAR)
	if _, err := root.CreateAccount(ctx, id, kp.PublicKey(), amount); err != nil {
		t.Fatalf("creating %s: %v", id, err)
	}
	s, err := near.NewSigner(root.Client(), id, kp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDevchainAccountsKeysAndTransfers(t *testing.T) {
	ctx := context.Background()
	_, client, root := startDevchain(t, devchain.Config{})

	status, err := client.Status(ctx)
	if err != nil || status.ChainID == "" || status.SyncInfo.LatestBlockHeight == 0 {
		t.Fatalf("status %+v, %v", status, err)
	}
	alice := newAccount(t, ctx, root, "alice", 10)
	acct, err := client.ViewAccount(ctx, alice.AccountID(), near.Final())
	if err != nil || acct.Amount != nearAmount(t, "10") {
		t.Fatalf("alice: %+v, %v", acct, err)
	}
	keys, err := client.ViewAccessKeyList(ctx, alice.AccountID(), near.Final())
	if err != nil || len(keys.Keys) != 1 || keys.Keys[0].PublicKey != alice.PublicKey() || !keys.Keys[0].AccessKey.Permission.IsFullAccess() {
		t.Fatalf("keys %+v, %v", keys, err)
	}

	// A transfer arrives exactly.
	bob := newAccount(t, ctx, root, "bob", 1)
	half, _ := near.ParseNEAR("0.5")
	if _, err := alice.Transfer(ctx, bob.AccountID(), half); err != nil {
		t.Fatal(err)
	}
	b, err := client.ViewAccount(ctx, bob.AccountID(), near.Final())
	if want, _ := near.ParseNEAR("1.5"); err != nil || b.Amount != want {
		t.Fatalf("bob has %v (%v), want 1.5 NEAR", near.FormatNEAR(b.Amount), err)
	}

	// A second key: add, use, delete; afterwards it is unknown.
	kp2, _ := near.GenerateKeyPair(nil)
	if _, err := alice.AddKey(ctx, kp2.PublicKey(), near.FullAccessKey()); err != nil {
		t.Fatal(err)
	}
	alice2, _ := near.NewSigner(client, alice.AccountID(), kp2)
	if _, err := alice2.Transfer(ctx, bob.AccountID(), near.NewU128(1)); err != nil {
		t.Fatalf("using the added key: %v", err)
	}
	if _, err := alice.DeleteKey(ctx, kp2.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ViewAccessKey(ctx, alice.AccountID(), kp2.PublicKey(), near.Final()); !errors.Is(err, near.ErrUnknownAccessKey) {
		t.Fatalf("deleted key: %v", err)
	}
	// Sending with the deleted key is an InvalidTxError the caller can inspect.
	_, err = alice2.Transfer(ctx, bob.AccountID(), near.NewU128(1))
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) || txErr.InvalidTxError == nil || !errors.Is(err, near.ErrInvalidTransaction) {
		t.Fatalf("deleted key send: %v", err)
	}

	// Unknown accounts.
	if _, err := client.ViewAccount(ctx, "nobody."+root.AccountID(), near.Final()); !errors.Is(err, near.ErrUnknownAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	if price, err := client.GasPrice(ctx, nil); err != nil || price.IsZero() {
		t.Fatalf("gas price %v, %v", price, err)
	}
}

func TestDevchainContractCallsAndConcurrentNonces(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{})
	counter := newAccount(t, ctx, root, "counter", 20)
	if _, err := counter.DeployContract(ctx, examplecontracts.Counter, "", nil, 0); err != nil {
		t.Fatal(err)
	}

	// Many concurrent calls on one key, plus a second client with its own
	// nonce counter for the same key: every call lands exactly once.
	acct, kp, err := near.LoadKeyFile(chain.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	rootElsewhere, err := near.NewSigner(near.NewClient(client.URL()), acct, kp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := root
			if i%3 == 0 {
				s = rootElsewhere
			}
			out, err := s.CallFunction(ctx, counter.AccountID(), "increment", nil, 0, near.U128{})
			if err == nil && len(out.Logs()) != 1 {
				err = errors.New("missing log: " + strings.Join(out.Logs(), "|"))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var num int64
	if err := client.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &num); err != nil || num != n {
		t.Fatalf("counter = %d (%v), want %d", num, err, n)
	}
	state, err := client.ViewState(ctx, counter.AccountID(), []byte("num"), near.Final())
	if err != nil || len(state.Values) != 1 || int64(binary.LittleEndian.Uint64(state.Values[0].Value)) != n {
		t.Fatalf("view_state %+v, %v", state, err)
	}

	// Return value and logs of one call, and the same transaction found by
	// scanning blocks and chunks.
	out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]int{"by": 5}, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.DecodeResult(&num); err != nil || num != n+5 {
		t.Fatalf("increment returned %d (%v)", num, err)
	}
	hash, _ := out.TxHash()
	blk, err := client.Block(ctx, near.AtHash(out.TransactionOutcome.BlockHash))
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := client.Chunk(ctx, blk.Chunks[0].ChunkHash)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tx := range chunk.Transactions {
		found = found || tx.Hash == hash
	}
	if !found {
		t.Fatalf("tx %s not in the chunk of block %d", hash, blk.Header.Height)
	}
	_, txs, err := client.BlockTransactions(ctx, near.AtHeight(blk.Header.Height))
	if err != nil || len(txs) != len(chunk.Transactions) {
		t.Fatalf("BlockTransactions: %d txs, %v", len(txs), err)
	}
	full, err := client.TxStatusWithReceipts(ctx, hash, root.AccountID(), near.TxFinal)
	if err != nil || len(full.Receipts) == 0 {
		t.Fatalf("EXPERIMENTAL_tx_status: %+v %v", full, err)
	}

	// A panicking contract: NEAR's message, typed error, state unchanged.
	p := newAccount(t, ctx, root, "panicker", 5)
	if _, err := p.DeployContract(ctx, examplecontracts.Panicker, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err = root.CallFunction(ctx, p.AccountID(), "panic_msg", map[string]string{"message": "no way"}, 0, near.U128{})
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) {
		t.Fatalf("panic: %v", err)
	}
	if msg, _ := txErr.ExecutionErrorMessage(); msg != "Smart contract panicked: no way" {
		t.Fatalf("panic message %q", msg)
	}
	// A view of a missing method: the legacy success-shaped error.
	if err := client.ViewFunction(ctx, counter.AccountID(), "no_such_method", nil, nil); !errors.Is(err, near.ErrContractExecution) {
		t.Fatalf("missing view method: %v", err)
	}
}

func nearAmount(t *testing.T, s string) near.U128 {
	t.Helper()
	v, err := near.ParseNEAR(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDevchainTimeoutThenStatus(t *testing.T) {
	ctx := context.Background()
	_, client, root := startDevchain(t, devchain.Config{TxTimeout: 300 * time.Millisecond})
	y := newAccount(t, ctx, root, "yield", 10)
	if _, err := y.DeployContract(ctx, examplecontracts.YieldPair, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	// start returns the yield promise, so the tx cannot finish until resumed:
	// the node times out and the SendError carries the hash to poll.
	_, err := root.CallFunction(ctx, y.AccountID(), "start", map[string]string{"tag": "t"}, 100*near.TGas, near.U128{})
	var se *near.SendError
	if !errors.Is(err, near.ErrTimeout) || !errors.As(err, &se) {
		t.Fatalf("pending yield: %v", err)
	}
	if err := client.SandboxFastForward(ctx, 205); err != nil {
		t.Fatal(err)
	}
	out, err := client.TxStatus(ctx, se.TxHash, root.AccountID(), near.TxFinal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(out.Logs(), "\n"), "yield timed out") {
		t.Fatalf("logs %q", out.Logs())
	}
}
