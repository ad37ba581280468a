package consensus

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	bolt "go.etcd.io/bbolt"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// identityFile records, in a data directory whose node identity is
// memory-only, the peer id (public) the node had while it last ran, so that
// the next start can ask the cluster to replace that member.
const identityFile = "peer.id"

// memoryIdentity reports whether the node's identity key lives in memory
// only: always outside dev mode, and in dev mode when asked.
func memoryIdentity(cfg Config) bool { return !cfg.DevMode || cfg.MemoryIdentity }

// identity is what openIdentity found and made.
type identity struct {
	key crypto.PrivKey
	// previous is the identity this data directory's node had before
	// this start (memory-only identities), or empty.
	previous peer.ID
	// rejoin is set when the data directory held cluster state of an
	// earlier identity, which was discarded: the node must join again.
	rejoin bool
}

// openIdentity returns the node's key. A dev node keeps it in node.key. A
// memory-only identity is new at every start, never written anywhere:
// cluster state the directory holds from an earlier identity (its Raft log
// and configuration name a server that no longer exists, and the store is
// rebuilt from the leader) is removed, and the earlier peer id is returned
// so that the join can replace that member.
func openIdentity(cfg Config, log *slog.Logger) (identity, error) {
	dir := cfg.DataDir
	if !memoryIdentity(cfg) {
		key, err := p2p.LoadOrCreateIdentity(dir)
		return identity{key: key}, err
	}
	keyPath := filepath.Join(dir, p2p.KeyFile)
	if _, err := os.Stat(keyPath); err == nil {
		return identity{}, fmt.Errorf("%s holds a node key on disk, but outside dev mode the node identity is kept in memory only (a copied key would let anyone act as this member): this data directory was used by a dev node or the key was put there; start production nodes on a fresh data directory", keyPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return identity{}, fmt.Errorf("checking for a node key on disk: %w", err)
	}
	var id identity
	last, owed, err := readIdentityFile(dir, log)
	if err != nil {
		return identity{}, err
	}
	raftDir := filepath.Join(dir, "raft")
	if _, err := os.Stat(raftDir); err == nil {
		if id.rejoin, err = hadClusterState(raftDir, log); err != nil {
			return identity{}, err
		}
		if id.rejoin {
			id.previous = last
		}
		for _, p := range []string{raftDir, filepath.Join(dir, stateFile), filepath.Join(dir, cleanFile)} {
			if err := os.RemoveAll(p); err != nil {
				return identity{}, fmt.Errorf("removing the cluster state of this node's previous identity (%s): %w", p, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return identity{}, fmt.Errorf("checking for cluster state: %w", err)
	}
	if !id.rejoin && owed != nil {
		// An earlier start discarded the state and did not get back in
		// (its join failed): the rejoin, and whom it replaces, still stand.
		id.rejoin, id.previous = true, *owed
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return identity{}, fmt.Errorf("generate node identity: %w", err)
	}
	id.key = key
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return identity{}, fmt.Errorf("node identity: %w", err)
	}
	record := self.String() + "\n"
	if id.rejoin {
		record += rejoinPrefix + id.previous.String() + "\n"
	}
	if err := renameio.WriteFile(filepath.Join(dir, identityFile), []byte(record), 0o600); err != nil {
		return identity{}, fmt.Errorf("recording this node's peer id: %w", err)
	}
	if id.rejoin {
		log.Info("the node identity is kept in memory only: this start is a new identity, which joins the cluster again and replaces the previous one",
			"peer", self, "previous", id.previous)
	}
	return id, nil
}

// rejoinPrefix starts the identity file's second line, present while the
// identity named on the first has still to join again: "rejoin <peer id of
// the identity it replaces>" (empty when unknown).
const rejoinPrefix = "rejoin "

// readIdentityFile reads the identity file: the last identity's peer id,
// and, when that identity still had to join again, the one it replaces
// (owed non-nil; it may hold an empty id when unknown).
func readIdentityFile(dir string, log *slog.Logger) (last peer.ID, owed *peer.ID, err error) {
	raw, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading this node's previous identity: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	decode := func(s string) peer.ID {
		if s = strings.TrimSpace(s); s == "" {
			return ""
		}
		p, err := peer.Decode(s)
		if err != nil {
			log.Warn("ignoring an unreadable peer id in the record of this node's identity", "file", identityFile, "err", err)
			return ""
		}
		return p
	}
	last = decode(lines[0])
	if len(lines) > 1 && strings.HasPrefix(lines[1], rejoinPrefix) {
		p := decode(strings.TrimPrefix(lines[1], rejoinPrefix))
		owed = &p
	}
	return last, owed, nil
}

// hadClusterState reports whether the Raft directory holds a log, a
// configuration or a snapshot: the node was bootstrapped or joined, as
// opposed to started and stopped before it ever was in a cluster.
func hadClusterState(raftDir string, log *slog.Logger) (bool, error) {
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db"), BoltOptions: &bolt.Options{Timeout: time.Second}})
	if err != nil {
		return false, fmt.Errorf("reading the cluster state of this node's previous identity: %w", err)
	}
	defer logs.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, newHCLog(log, "raft"))
	if err != nil {
		return false, fmt.Errorf("reading the snapshots of this node's previous identity: %w", err)
	}
	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return false, fmt.Errorf("reading the cluster state of this node's previous identity: %w", err)
	}
	return has, nil
}
