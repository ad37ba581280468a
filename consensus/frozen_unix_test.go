//go:build unix

package consensus

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/internal/reexec"
	"github.com/outlayer/outlayer/store"
)

// frozenMemberEntry is the child process of TestCloseWithFrozenMember: a
// node that joins the cluster named in its arguments, says so on stdout and
// runs until its stdin closes.
const frozenMemberEntry = "outlayer-consensus-test-member"

func init() { reexec.Serve(frozenMemberEntry, serveMember) }

// serveMember: args are the data directory and the member to join through.
func serveMember(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: DATADIR MEMBER-ADDR")
		return 2
	}
	cfg := Config{
		DataDir:       args[0],
		ListenAddrs:   []string{"/ip4/127.0.0.1/tcp/0"},
		DevMode:       true,
		DevJoinSecret: []byte("consensus test cluster secret"),
		Raft:          fastRaft(),
		Logger:        testLogger().With("node", "child"),
	}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Join(ctx, args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("joined", n.PeerID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestCloseWithFrozenMember: a member in another process is frozen with
// SIGSTOP — its TCP connection stays open, the kernel buffers fill, it
// answers nothing, not even yamux's pings — while the leader has megabytes
// to replicate to it. The leader's Close must not wait for any deadline of
// that connection.
func TestCloseWithFrozenMember(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a member in a child process")
	}
	c := newTestCluster(t, func(cfg *Config) {
		cfg.Voters = 1 // the child joins as a non-voter: the leader keeps its quorum
	})
	c.bootstrap(1)
	leader := c.node(0)

	ctx := ctxT(t, 90*time.Second)
	cmd := reexec.Command(ctx, frozenMemberEntry, t.TempDir(), c.addr(0))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the member process did not join: %v\n%s", err, stderr.String())
	}
	child, err := peer.Decode(strings.TrimSpace(strings.TrimPrefix(line, "joined ")))
	if err != nil {
		t.Fatalf("the member process said %q", line)
	}
	waitFor(t, 30*time.Second, "the member in the configuration and connected", func() bool {
		s, err := leader.Servers()
		return err == nil && len(s) == 2 && leader.host.LibP2P().Network().Connectedness(child) == network.Connected
	})

	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Megabytes for the frozen member: more than its socket buffers and
	// stream windows hold, so the leader's sends to it block.
	for range 6 {
		data := make([]byte, 1<<20)
		_, _ = rand.Read(data)
		if _, err := leader.Apply(ctx, &PutBlob{Hash: store.BlobHash(sha256.Sum256(data)), Data: data}); err != nil {
			t.Fatal(err)
		}
	}

	closeLeaderWithin(t, c, "a member frozen by SIGSTOP")
}
