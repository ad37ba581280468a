package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// lockedBuffer is a bytes.Buffer safe to write from the command's goroutine
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDevchainCommandHistoryWindow runs `outlayerd devchain` in-process with
// a small --keep-blocks and --keep-transactions and checks, over its RPC,
// that both windows reached the chain: after a fast-forward, status reports
// the block window's start, and the oldest of two transactions is forgotten.
func TestDevchainCommandHistoryWindow(t *testing.T) {
	const keepBlocks = 7
	home := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		app := newApp()
		app.Writer, app.ErrWriter = &out, &out
		done <- app.RunContext(ctx, []string{"outlayerd", "devchain", "--home", home, "--rpc-addr", "127.0.0.1:0",
			"--block-time", "20ms", "--keep-blocks", "7", "--keep-transactions", "1"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devchain exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("devchain did not stop within 10s of its context ending")
		}
	})

	urlRE := regexp.MustCompile(`devchain RPC:\s+(\S+)`)
	var rpcURL string
	for deadline := time.Now().Add(10 * time.Second); rpcURL == ""; {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			rpcURL = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("devchain exited early (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("devchain printed no RPC URL within 10s:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	client := near.NewClient(rpcURL)
	if err := client.SandboxFastForward(ctx, 100); err != nil {
		t.Fatal(err)
	}
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, earliest := st.SyncInfo.LatestBlockHeight, st.SyncInfo.EarliestBlockHeight
	if head < 100 || earliest == nil {
		t.Fatalf("after fast-forwarding 100 blocks: head %d, earliest %v", head, earliest)
	}
	// Blocks may be produced between the two reads of status, never fewer
	// than keepBlocks kept.
	if got := head - *earliest + 1; got < keepBlocks || got > keepBlocks+5 {
		t.Fatalf("status: head %d, earliest %d: %d blocks kept, want %d (--keep-blocks)", head, *earliest, got, keepBlocks)
	}

	// --keep-transactions 1: the first of two transfers is forgotten.
	send := func() string {
		t.Helper()
		code, stdout, stderr := nearCLI(t, "--rpc", rpcURL, "--keys-dir", home, "send", "test.near", "test.near", "0.001")
		m := regexp.MustCompile(`Transaction (\w+) `).FindStringSubmatch(stderr)
		if code != exitOK || m == nil {
			t.Fatalf("near send: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
		}
		return m[1]
	}
	first := send()
	second := send()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _, stderr := nearCLI(t, "--rpc", rpcURL, "tx", first)
		if code == exitFailure && strings.Contains(stderr, "UNKNOWN_TRANSACTION") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first transaction is still known 10s after a second one with --keep-transactions 1: exit %d, %s", code, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, stdout, stderr := nearCLI(t, "--rpc", rpcURL, "tx", second); code != exitOK || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("the newest transaction must stay known: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestDevchainCommandRejectsEmptyWindow checks that a zero window is a usage
// error, not a silent fall-back to the default.
func TestDevchainCommandRejectsEmptyWindow(t *testing.T) {
	for _, flag := range []string{"--keep-blocks", "--keep-transactions"} {
		code, _, stderr := runCLI(t, "", "devchain", "--home", t.TempDir(), "--rpc-addr", "127.0.0.1:0", flag, "0")
		if code != exitUsage || !strings.Contains(stderr, "must be positive") {
			t.Fatalf("%s 0: exit %d, %q; want a usage error", flag, code, stderr)
		}
	}
}
