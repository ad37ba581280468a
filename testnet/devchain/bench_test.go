package devchain

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// BenchmarkCounterTransactions measures how many signed function-call
// transactions (counter.increment) the devchain accepts over RPC and executes:
// b.N transactions are broadcast, then the benchmark waits until the last one
// is final.
func BenchmarkCounterTransactions(b *testing.B) {
	ctx := context.Background()
	c, cl, root := startChain(b, Config{BlockTime: 10 * time.Millisecond})
	counter := newContractAccount(b, ctx, root, "counter", "counter", 10)
	kp := c.RootKey()
	ak, err := cl.ViewAccessKey(ctx, root.AccountID(), kp.PublicKey(), near.BlockReference{Finality: "final"})
	if err != nil {
		b.Fatal(err)
	}
	head, _ := cl.RecentBlockHash(ctx)
	txs := make([]*near.SignedTransaction, b.N)
	for i := range txs {
		txs[i] = kp.SignTransaction(near.Transaction{SignerID: root.AccountID(), PublicKey: kp.PublicKey(), Nonce: ak.Nonce + 1 + uint64(i),
			ReceiverID: counter.AccountID(), BlockHash: head,
			Actions: []near.Action{near.FunctionCall{MethodName: "increment", Args: []byte(`{}`), Gas: 10_000_000_000_000}}})
	}
	b.ResetTimer()
	for _, st := range txs {
		if _, err := cl.BroadcastTxAsync(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := cl.TxStatus(ctx, txs[len(txs)-1].Hash(), root.AccountID(), near.TxFinal); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	var n int
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != b.N {
		b.Fatalf("counter = %d, want %d (%v)", n, b.N, err)
	}
}

// BenchmarkFastForward measures empty blocks per second under
// sandbox_fast_forward.
func BenchmarkFastForward(b *testing.B) {
	c, err := New(Config{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	if err := c.FastForward(context.Background(), uint64(b.N)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkFastForwardMillion fast-forwards a million blocks per iteration and
// reports the heap still in use afterwards (what the chain keeps of them).
func BenchmarkFastForwardMillion(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		c, err := New(Config{Home: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.FastForward(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
