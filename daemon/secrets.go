package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

// openKeystore starts this node's keystore: it creates the master secret on
// the node that bootstrapped the cluster and otherwise recovers this node's
// sealed copy or receives the secret from a member (in the background: a
// joining node's replica, and so the member table, fills in as it catches
// up). The master is sealed with the configured Sealer, or in dev mode a
// key file; otherwise (TDX has no sealing key) it is kept in memory only,
// and a node restarted while no member holds it reports it lost.
func (n *Node) openKeystore(ctx context.Context, bootstrapped bool) error {
	sealer := n.cfg.Sealer
	memoryOnly := n.cfg.KeystoreMemoryOnly || (sealer == nil && !n.cfg.DevMode)
	if sealer == nil && !memoryOnly {
		s, err := keystore.NewFileSealer(n.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("opening the keystore's sealing key: %w", err)
		}
		sealer = s
	}
	key := n.cons.Identity()
	verifier, attester := keystore.TransferVerifier(n.cfg.Verifier), keystore.TransferAttester(n.cfg.Attester)
	if n.cfg.DevMode && n.cfg.Verifier == nil {
		sim := consensus.SimulatedAttestation{Secret: n.cfg.DevJoinSecret}
		verifier, attester = sim, sim
	}
	ks, err := keystore.New(keystore.Config{
		Cluster:    n.cons,
		Identity:   key,
		Sealer:     sealer,
		MemoryOnly: memoryOnly,
		Viewer:     n.chain,
		ContractID: n.cfg.ContractID,
		DevMode:    n.cfg.DevMode,
		Verifier:   verifier,
		Attester:   attester,
		Logger:     n.log,
	})
	if err != nil {
		return fmt.Errorf("starting the keystore: %w", err)
	}
	n.keys = ks
	if bootstrapped {
		if err := ks.Bootstrap(ctx); err != nil {
			return fmt.Errorf("creating the keystore's master secret: %w", err)
		}
		n.log.Info("keystore master secret created", "sealing", ks.Status().Sealing)
		return nil
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := ks.Run(n.ctx)
		if errors.Is(err, keystore.ErrMasterLost) {
			n.log.Error("the keystore's master secret is lost; requests that name secrets fail", "err", err)
			return
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Error("the keystore could not obtain the master secret; requests that name secrets will run on other nodes", "err", err)
			return
		}
		if n.ctx.Err() == nil {
			n.log.Info("keystore ready", "sealing", ks.Status().Sealing)
		}
	}()
	return nil
}

// errNodeCannotDecrypt is a node-side secrets failure: the request is left
// for another node (or a later attempt) instead of failing.
var errNodeCannotDecrypt = errors.New("this node cannot decrypt secrets now")

// secretsFor returns the decrypted secrets of j. A failure that is the
// request's (access denied, no such profile, undecryptable) is returned as
// a failed Result for the caller; one that is the node's (keystore not
// ready yet, RPC trouble) as an error, so the request runs again.
func (n *Node) secretsFor(ctx context.Context, j *store.Job) (map[string]string, *store.Result, error) {
	ref := *j.Secrets
	if n.keys == nil {
		return nil, &store.Result{Success: false, ErrorKind: failure.AccessDenied,
			Error: "this request names secrets (profile " + ref.Profile + " of " + ref.AccountID +
				"), but this node runs without a keystore, so it cannot decrypt them"}, nil
	}
	req, err := keystore.RequestForJob(j.Request, ref, j.Sender)
	if err != nil {
		return nil, &store.Result{Success: false, ErrorKind: failure.SecretsInvalid,
			Error: "Secrets unavailable: " + err.Error()}, nil
	}
	secrets, err := n.keys.SecretsFor(ctx, req)
	if err == nil {
		return secrets, nil, nil
	}
	kind := keystore.ErrorKind(err)
	if !kind.Final() {
		return nil, nil, fmt.Errorf("%w: %w", errNodeCannotDecrypt, err)
	}
	return nil, &store.Result{Success: false, ErrorKind: kind,
		Error: fmt.Sprintf("Secrets unavailable (profile %s of %s): %v", ref.Profile, ref.AccountID, err)}, nil
}

// seedWait bounds how long a run waits for this node's keystore to receive
// the master secret (a node that just joined) before the run is left to
// another node.
const seedWait = 10 * time.Second

// requestSeed is the seed of j's program randomness: derived from the
// keystore's master secret and the request's identity (contract, request
// id, data id; see keystore.RequestSeed), so every executor that holds the
// master derives the same seed and nobody else can — the program's random
// numbers are private. A node without the master reports an error: the
// run goes to another node rather than use a seed the others would not.
func (n *Node) requestSeed(ctx context.Context, j *store.Job) ([32]byte, error) {
	if n.keys == nil {
		return [32]byte{}, fmt.Errorf("%w: this node runs without a keystore", errNoSeed)
	}
	wctx, cancel := context.WithTimeout(ctx, seedWait)
	err := n.keys.WaitReady(wctx)
	cancel()
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", errNoSeed, err)
	}
	seed, err := n.keys.RequestSeed(seedIdentity(n.cfg.ContractID, j))
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", errNoSeed, err)
	}
	return seed, nil
}

// errNoSeed: the node cannot derive the request's seed.
var errNoSeed = errors.New("this node cannot derive the request's random seed (it does not hold the keystore's master secret)")

// seedIdentity names a request for its seed: u32be-length-prefixed
// contract account, u64be request id, then the data id (hex, as stored;
// unique per yield, so a replayed request id on another deployment or
// after a redeploy gets another seed).
func seedIdentity(contract string, j *store.Job) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(contract)))
	b = append(b, contract...)
	b = binary.BigEndian.AppendUint64(b, j.ID)
	return append(b, j.DataID...)
}
