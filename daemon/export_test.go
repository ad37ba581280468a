package daemon

import (
	"context"
	"time"

	"github.com/outlayer/outlayer/store"
)

// SetAfterResolveLanded installs a hook that runs after a resolve landed on
// chain and before the leader records it; returning true skips the record.
func SetAfterResolveLanded(c *Config, f func(ctx context.Context, id uint64, tx string) bool) {
	c.afterResolveLanded = f
}

// IsRunning reports whether n's worker has started request id (it is in
// the worker's running set, so a graceful Stop waits for it).
func IsRunning(n *Node, id uint64) bool {
	n.worker.mu.Lock()
	defer n.worker.mu.Unlock()
	_, ok := n.worker.running[id]
	return ok
}

// SetRigResult makes the node rewrite every result it reports (before
// signing it): a node that lies, for the agreement tests. There is no
// flag or config an operator could set to the same effect.
func SetRigResult(c *Config, f func(r *store.Result)) { c.rigResult = f }

// SetProjects makes the nodes resolve the projects HTTPS calls name with f
// instead of the contract's views.
func SetProjects(c *Config, f func(ctx context.Context, projectID, versionKey string) (store.CodeSource, error)) {
	c.projects = projectFunc(f)
}

// ErrProjectNotFound is what a project function returns for a project
// that does not exist.
var ErrProjectNotFound = errProjectNotFound

// RequestSeedOf is the private seed n's cluster derives for j (what a
// replay outside the cluster cannot know).
func RequestSeedOf(n *Node, j *store.Job) ([32]byte, error) {
	return n.requestSeed(context.Background(), j)
}

// FailureClaimHash is the hash of the failure claim n's replica gives
// request id (see failsign.go): what a member is asked to sign.
func FailureClaimHash(n *Node, id uint64) ([32]byte, error) {
	j, err := n.cons.Store().Get(id)
	if err != nil {
		return [32]byte{}, err
	}
	chainID, err := n.claims.chainID(context.Background())
	if err != nil {
		return [32]byte{}, err
	}
	c, err := failureClaim(chainID, n.cfg.ContractID, j)
	if err != nil {
		return [32]byte{}, err
	}
	return c.Hash(), nil
}

// AskFailureSignature makes from ask member to over FailureSignProtocol to
// sign request id's failure claim hash; it returns the signer's key.
func AskFailureSignature(from, to *Node, id uint64, hash [32]byte) (string, error) {
	sig, err := from.askFailureSignature(context.Background(), to.PeerID(), id, hash)
	if err != nil {
		return "", err
	}
	return sig.PublicKey.String(), nil
}

// SetRetentionTiming makes the leader prune and check deleted projects
// every `every`, pruning requests settled at least minAge ago (below the
// minute a node allows).
func SetRetentionTiming(c *Config, every, minAge time.Duration) {
	c.retentionEvery, c.retentionMinAge = every, minAge
}
