package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

// Cluster is what the keystore needs from consensus; *consensus.Node
// implements it.
type Cluster interface {
	Apply(ctx context.Context, cmd consensus.Command) (consensus.Result, error)
	Store() *store.Store
	LinearizableRead(ctx context.Context) error
	PeerID() peer.ID
	Host() *p2p.Host
}

// Config configures a Keystore.
type Config struct {
	// Cluster replicates the sealed entries and carries the master-secret
	// protocol between members.
	Cluster Cluster
	// Identity is the node's libp2p ed25519 key: the key its attestation
	// binds, and so the key a member encrypts the master secret to.
	Identity crypto.PrivKey
	// Sealer protects this node's copy of the master secret. Exactly one
	// of Sealer and MemoryOnly is set.
	Sealer Sealer
	// MemoryOnly keeps the master secret in this node's memory and nowhere
	// else: no copy, sealed or clear, is written to disk or to the
	// replicated state. A (re)started node receives it from a member; if
	// no member holds it (every node restarted), it is lost and the
	// keystore says so (ErrMasterLost). For TEEs without a sealing key
	// (TDX); see DESIGN.md.
	MemoryOnly bool
	// Viewer reads the contract's secrets and evaluates access conditions.
	Viewer Viewer
	// ContractID is the OutLayer contract holding users' secrets.
	ContractID string
	// DevMode lets members whose attestation is simulated receive the
	// master secret (a dev cluster has no other kind).
	DevMode bool
	// Verifier checks the fresh evidence a member sends with every request
	// for the master secret; Attester produces this node's. Both are the
	// cluster's join verifier and attester. Required outside dev mode; in
	// dev mode they default to simulated attestation, which proves only
	// possession of the node key.
	Verifier TransferVerifier
	Attester TransferAttester
	// Logger defaults to slog.Default.
	Logger *slog.Logger
	// Random defaults to crypto/rand.Reader.
	Random io.Reader
}

// Errors a caller tells apart.
var (
	// ErrNotReady: this node does not hold the master secret (yet).
	ErrNotReady = errors.New("keystore is not ready: this node does not hold the master secret yet")
	// ErrNoSealedCopy: the replica holds no sealed copy for this node.
	ErrNoSealedCopy = errors.New("no sealed copy of the master secret for this node")
	// ErrMasterExists: Bootstrap on a cluster that already has a master.
	ErrMasterExists = errors.New("the cluster already has a master secret")
	// ErrSecretsNotFound: the contract has no secrets under that name.
	ErrSecretsNotFound = errors.New("secrets not found")
	// ErrNEARView: the contract's secrets could not be read (RPC trouble;
	// another node, or a retry, may succeed).
	ErrNEARView = errors.New("reading secrets from the contract failed")
	// ErrRefused: a member refused to hand over the master secret.
	ErrRefused = errors.New("master secret refused")
	// ErrUnauthenticated: a generation request's owner signature is wrong.
	ErrUnauthenticated = errors.New("owner not authenticated")
	// ErrMasterLost: a memory-only cluster's master secret existed but no
	// node holds it any more and none has a sealed copy. It is final: the
	// keystore never creates a replacement, which would orphan every
	// secret encrypted to the old one.
	ErrMasterLost = errors.New("master secret lost: every node restarted and none could seal it; secrets stored for this cluster can no longer be decrypted")
)

// Replicated entry names.
const (
	entryCheck      = "master/check"
	entryNodePrefix = "master/node/"
	entryGenPrefix  = "gen/"
)

// Keystore holds the master secret on one node.
type Keystore struct {
	cfg  Config
	log  *slog.Logger
	self peer.ID

	mu     sync.RWMutex
	master []byte
	lost   bool // memory-only: no node holds the master and none can recover it
	ready  chan struct{}

	genMu sync.Mutex // serialises this node's generate requests
}

// New registers the master-secret protocol on the cluster's host. The
// keystore is not ready until Bootstrap, Recover or Fetch succeeds (Run
// does the latter two until one works).
func New(cfg Config) (*Keystore, error) {
	if cfg.Cluster == nil || cfg.Identity == nil {
		return nil, errors.New("keystore: Cluster and Identity are required")
	}
	if (cfg.Sealer == nil) == !cfg.MemoryOnly {
		return nil, errors.New("keystore: configure exactly one of a Sealer and MemoryOnly")
	}
	if cfg.Verifier == nil || cfg.Attester == nil {
		if !cfg.DevMode {
			return nil, errors.New("keystore: outside dev mode a Verifier and an Attester are required: every hand-over of the master secret needs fresh attestation")
		}
		if cfg.Verifier == nil {
			cfg.Verifier = consensus.SimulatedAttestation{}
		}
		if cfg.Attester == nil {
			cfg.Attester = consensus.SimulatedAttestation{}
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	if _, err := nodeX25519Private(cfg.Identity); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	self, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("keystore: node identity: %w", err)
	}
	if self != cfg.Cluster.PeerID() {
		return nil, fmt.Errorf("keystore: the identity key is peer %s but the cluster node is %s", self, cfg.Cluster.PeerID())
	}
	k := &Keystore{cfg: cfg, log: cfg.Logger.With("component", "keystore"), self: self, ready: make(chan struct{})}
	cfg.Cluster.Host().Handle(Protocol, k.serveMaster)
	return k, nil
}

// Close forgets the master secret and stops serving it.
func (k *Keystore) Close() {
	k.cfg.Cluster.Host().RemoveHandler(Protocol)
	k.mu.Lock()
	clear(k.master)
	k.master = nil
	k.mu.Unlock()
}

// Ready reports whether this node holds the master secret.
func (k *Keystore) Ready() bool {
	select {
	case <-k.ready:
		return true
	default:
		return false
	}
}

// WaitReady blocks until the keystore is ready or ctx ends.
func (k *Keystore) WaitReady(ctx context.Context) error {
	select {
	case <-k.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

// Status is what status output shows about the keystore.
type Status struct {
	Ready bool `json:"ready"`
	// Fingerprint identifies the cluster's master secret (a one-way
	// derivation; equal on every node that holds the same master).
	Fingerprint string `json:"fingerprint,omitempty"`
	Sealing     string `json:"sealing"`
	// MemoryOnly: this node never keeps a copy of the master on disk.
	MemoryOnly bool `json:"memory_only,omitempty"`
	// Lost: the cluster's master secret is gone (ErrMasterLost); Error
	// says so in words.
	Lost  bool   `json:"lost,omitempty"`
	Error string `json:"error,omitempty"`
}

// memoryOnlyDescription is Status().Sealing in memory-only mode.
const memoryOnlyDescription = "memory only: the master secret is never written to disk, sealed or clear; a restarted node receives it again from a member, and if every node restarts it is lost"

func (k *Keystore) describeSealing() string {
	if k.cfg.MemoryOnly {
		return memoryOnlyDescription
	}
	return k.cfg.Sealer.Describe()
}

// Status reports readiness and the master's fingerprint.
func (k *Keystore) Status() Status {
	st := Status{Sealing: k.describeSealing(), MemoryOnly: k.cfg.MemoryOnly}
	if m := k.masterKey(); m != nil {
		st.Ready = true
		fp, _ := fingerprint(m)
		st.Fingerprint = hex.EncodeToString(fp)
	} else if k.isLost() {
		st.Lost = true
		st.Error = ErrMasterLost.Error()
	}
	return st
}

func (k *Keystore) isLost() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.lost
}

func (k *Keystore) markLost() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.master == nil {
		k.lost = true
	}
}

// notReady is the error for a request this node cannot serve without
// the master: ErrMasterLost when it is gone for good, else ErrNotReady.
func (k *Keystore) notReady() error {
	if k.isLost() {
		return ErrMasterLost
	}
	return ErrNotReady
}

func (k *Keystore) masterKey() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.master
}

func (k *Keystore) setMaster(m []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.master != nil {
		return
	}
	k.master = bytes.Clone(m)
	close(k.ready)
}

// fingerprint is the replicated check value of a master secret.
func fingerprint(master []byte) ([]byte, error) { return subKey(master, "check/v1") }

func (k *Keystore) ownEntry() string { return entryNodePrefix + k.self.String() }

// Bootstrap creates the master secret on the first node of a new cluster
// (call it after consensus Bootstrap, on that node only). It is a no-op on
// a node that already holds one, and refuses (ErrMasterExists) on a node of
// a cluster whose master exists elsewhere.
func (k *Keystore) Bootstrap(ctx context.Context) error {
	if k.Ready() {
		return nil
	}
	err := k.Recover(ctx)
	if err == nil {
		return k.ensureCheck(ctx)
	}
	if !errors.Is(err, ErrNoSealedCopy) {
		return err
	}
	// From here on the master is new, so memory-only needs no special
	// case: the fingerprint check below refuses to replace an existing
	// (even a lost) master, and storeOwnCopy writes nothing.
	if err := k.cfg.Cluster.LinearizableRead(ctx); err != nil {
		return fmt.Errorf("keystore bootstrap: read the cluster state: %w", err)
	}
	if _, err := k.cfg.Cluster.Store().Sealed(entryCheck); err == nil {
		return fmt.Errorf("keystore bootstrap: %w; this node receives it from a member (Run)", ErrMasterExists)
	}
	master := make([]byte, 32)
	if _, err := io.ReadFull(k.cfg.Random, master); err != nil {
		return fmt.Errorf("keystore bootstrap: generate the master secret: %w", err)
	}
	if err := k.storeOwnCopy(ctx, master); err != nil {
		return fmt.Errorf("keystore bootstrap: %w", err)
	}
	k.setMaster(master)
	clear(master)
	if err := k.ensureCheck(ctx); err != nil {
		return fmt.Errorf("keystore bootstrap: %w", err)
	}
	k.log.Info("master secret created", "sealing", k.describeSealing())
	return nil
}

func (k *Keystore) ensureCheck(ctx context.Context) error {
	fp, err := fingerprint(k.masterKey())
	if err != nil {
		return err
	}
	if have, err := k.cfg.Cluster.Store().Sealed(entryCheck); err == nil {
		if subtle.ConstantTimeCompare(have, fp) != 1 {
			return errors.New("this node's master secret differs from the cluster's (two bootstraps?)")
		}
		return nil
	}
	if _, err := k.cfg.Cluster.Apply(ctx, &consensus.KeystorePut{Name: entryCheck, Sealed: fp}); err != nil {
		return fmt.Errorf("record the master secret's fingerprint: %w", err)
	}
	return nil
}

// storeOwnCopy seals master for this node and replicates it; in
// memory-only mode it keeps nothing anywhere but memory.
func (k *Keystore) storeOwnCopy(ctx context.Context, master []byte) error {
	if k.cfg.MemoryOnly {
		return nil
	}
	sealed, err := k.cfg.Sealer.Seal(k.ownEntry(), master)
	if err != nil {
		return fmt.Errorf("seal the master secret: %w", err)
	}
	if _, err := k.cfg.Cluster.Apply(ctx, &consensus.KeystorePut{Name: k.ownEntry(), Sealed: sealed}); err != nil {
		return fmt.Errorf("replicate this node's sealed copy: %w", err)
	}
	return nil
}

// Recover unseals this node's copy from its replica (after a restart).
func (k *Keystore) Recover(ctx context.Context) error {
	if k.Ready() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.cfg.MemoryOnly {
		return ErrNoSealedCopy
	}
	sealed, err := k.cfg.Cluster.Store().Sealed(k.ownEntry())
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSealedCopy
	}
	if err != nil {
		return fmt.Errorf("keystore recover: %w", err)
	}
	master, err := k.cfg.Sealer.Unseal(k.ownEntry(), sealed)
	if err != nil {
		return fmt.Errorf("keystore recover: %w", err)
	}
	defer clear(master)
	if err := k.checkMaster(master, false); err != nil {
		return fmt.Errorf("keystore recover: %w", err)
	}
	k.setMaster(master)
	k.log.Info("master secret recovered from this node's sealed copy")
	return nil
}

// checkMaster compares master with the replicated fingerprint; required
// says whether a missing fingerprint is an error.
func (k *Keystore) checkMaster(master []byte, required bool) error {
	fp, err := fingerprint(master)
	if err != nil {
		return err
	}
	have, err := k.cfg.Cluster.Store().Sealed(entryCheck)
	if errors.Is(err, store.ErrNotFound) {
		if required {
			return errors.New("the cluster state has no master fingerprint yet (replica behind?)")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(have, fp) != 1 {
		return errors.New("the master secret does not match the cluster's fingerprint")
	}
	return nil
}

// Run makes the keystore ready: it recovers this node's sealed copy, or,
// when there is none (a node that just joined) or it does not open,
// receives the master secret from a member. It retries until one works
// or ctx ends, since a restarted node's replica fills in only as it
// catches up with the log.
func (k *Keystore) Run(ctx context.Context) error {
	if k.cfg.MemoryOnly {
		return k.runMemoryOnly(ctx)
	}
	lastWarn := time.Time{}
	return untilReady(ctx, k, func() error {
		err := k.Recover(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNoSealedCopy) && ctx.Err() == nil && time.Since(lastWarn) > 10*time.Second {
			k.log.Warn("this node's sealed copy does not open; asking members for the master secret", "err", err)
			lastWarn = time.Now()
		}
		if _, cerr := k.cfg.Cluster.Store().Sealed(entryCheck); cerr == nil {
			// A restarted replica may hold the fingerprint before its own
			// sealed copy; catch up first rather than ask for a new copy.
			if errors.Is(err, ErrNoSealedCopy) {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				rerr := k.cfg.Cluster.LinearizableRead(rctx)
				cancel()
				if rerr == nil && k.Recover(ctx) == nil {
					return nil
				}
			}
			ferr := k.Fetch(ctx)
			if ferr == nil {
				return nil
			}
			if ctx.Err() == nil && time.Since(lastWarn) > 10*time.Second {
				k.log.Warn("could not receive the master secret from a member yet", "err", ferr)
				lastWarn = time.Now()
			}
		}
		return errNotYet
	})
}

// errNotYet is an attempt at readiness that did not succeed this time.
var errNotYet = errors.New("not ready yet")

// untilReady runs attempt until the keystore is ready, attempt returns nil
// or an error marked backoff.Permanent (returned as it is), or ctx ends
// (ErrNotReady); it waits 50 ms after the first failure, doubling to 2 s.
func untilReady(ctx context.Context, k *Keystore, attempt func() error) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if k.Ready() {
			return struct{}{}, nil
		}
		return struct{}{}, attempt()
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 2 * time.Second}),
		backoff.WithMaxElapsedTime(0))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	return err
}

// Fetch asks the members in the node table, one after another, for the
// master secret, then seals and replicates this node's own copy.
func (k *Keystore) Fetch(ctx context.Context) error {
	if k.Ready() {
		return nil
	}
	_, err := k.fetch(ctx)
	return err
}

// fetch is Fetch that also reports whether every other member answered
// that it does not hold the master (none unreachable, none refusing for
// another reason): the evidence runMemoryOnly needs to call it lost.
func (k *Keystore) fetch(ctx context.Context) (noneHolds bool, _ error) {
	nodes, err := k.cfg.Cluster.Store().Nodes()
	if err != nil {
		return false, fmt.Errorf("keystore fetch: read the node table: %w", err)
	}
	var errs []error
	noneHolds = true
	for _, n := range nodes {
		if n.PeerID == k.self.String() {
			continue
		}
		p, err := peer.Decode(n.PeerID)
		if err != nil {
			continue
		}
		master, err := k.requestMaster(ctx, p)
		if !errors.Is(err, errNotHeld) {
			noneHolds = false
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		err = k.checkMaster(master, true)
		if err == nil {
			err = k.storeOwnCopy(ctx, master)
		}
		if err != nil {
			clear(master)
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		k.setMaster(master)
		clear(master)
		k.log.Info("master secret received from a member", "from", p, "sealing", k.describeSealing())
		return false, nil
	}
	if len(errs) == 0 {
		return noneHolds, errors.New("keystore fetch: no other member to ask")
	}
	return noneHolds, fmt.Errorf("keystore fetch: %w", errors.Join(errs...))
}

// PublicKey is the X25519 public key users encrypt id's secrets to.
func (k *Keystore) PublicKey(id Identity) (PublicKey, Identity, error) {
	id, err := id.Normalize()
	if err != nil {
		return PublicKey{}, id, err
	}
	m := k.masterKey()
	if m == nil {
		return PublicKey{}, id, k.notReady()
	}
	priv, err := deriveKey(m, id)
	if err != nil {
		return PublicKey{}, id, err
	}
	var p PublicKey
	copy(p[:], priv.PublicKey().Bytes())
	return p, id, nil
}

// Request names the secrets a run needs and who asked for the run.
type Request struct {
	Accessor contracts.SecretAccessor
	Profile  string
	Owner    string // secrets_ref.account_id
	Caller   string // the account that requested the execution
}

// RequestFor builds a Request from a queued request's code source, its
// secrets reference and its sender.
func RequestFor(code store.CodeSource, ref store.SecretsRef, caller string) (Request, error) {
	return RequestForJob(store.Request{Code: code}, ref, caller)
}

// RequestForJob is the keystore request for a job's secrets: a project's
// version reads the project's secrets (upstream HEAD's Project accessor,
// one secret for every version), any other job its code's.
func RequestForJob(j store.Request, ref store.SecretsRef, caller string) (Request, error) {
	if j.ProjectID != "" {
		return Request{Accessor: contracts.SecretAccessor{Project: &contracts.ProjectAccessor{ProjectID: j.ProjectID}},
			Profile: ref.Profile, Owner: ref.AccountID, Caller: caller}, nil
	}
	code := j.Code
	acc, err := AccessorFor(code)
	if err != nil {
		return Request{}, err
	}
	return Request{Accessor: acc, Profile: ref.Profile, Owner: ref.AccountID, Caller: caller}, nil
}

// SecretsFor returns the environment variables a run may see: the owner's
// secrets read from the contract (access condition checked against the
// caller, then decrypted) merged with the secrets the cluster generated
// for the same identity. Any failure is an error; there is no partial
// result. ErrorKind classifies errors for the request's result.
func (k *Keystore) SecretsFor(ctx context.Context, req Request) (map[string]string, error) {
	if k.masterKey() == nil {
		return nil, k.notReady()
	}
	id, view, err := k.access(ctx, req)
	if err != nil {
		return nil, err
	}
	// The matched accessor names the key: for a branch request answered by
	// the all-branches entry, that is the entry without a branch (upstream
	// always dropped the branch here, so branch secrets never decrypted).
	keyID, err := Identity{Accessor: view.Accessor, Owner: id.Owner, Profile: id.Profile}.Normalize()
	if err != nil {
		return nil, fmt.Errorf("the contract answered with an unusable accessor: %w", err)
	}
	out, err := k.decryptProfile(keyID, view.EncryptedSecrets)
	if err != nil {
		return nil, err
	}
	gen, err := k.generated(ctx, keyID)
	if err != nil {
		return nil, err
	}
	for name, v := range gen {
		out[name] = v
	}
	return out, nil
}

// CheckAccess reports whether req's secrets exist and its caller satisfies
// their access condition, with the same checks and errors as SecretsFor
// (ErrSecretsNotFound, ErrAccessDenied, ErrAccessCheck, a bad identity;
// ErrNEARView when the chain could not be read), without decrypting
// anything: an HTTPS call is refused with it before anything is reserved.
// SecretsFor checks again when the run starts.
func (k *Keystore) CheckAccess(ctx context.Context, req Request) error {
	_, _, err := k.access(ctx, req)
	return err
}

// access reads req's secrets profile from the contract and checks its
// access condition against req.Caller.
func (k *Keystore) access(ctx context.Context, req Request) (Identity, *contracts.SecretProfileView, error) {
	id, err := Identity{Accessor: req.Accessor, Owner: req.Owner, Profile: req.Profile}.Normalize()
	if err != nil {
		return id, nil, err
	}
	view, err := k.getSecrets(ctx, id)
	if err != nil {
		return id, nil, err
	}
	ok, err := Evaluate(ctx, k.cfg.Viewer, view.Access, req.Caller)
	if err != nil {
		return id, nil, fmt.Errorf("secrets %s of %s: %w", id.Profile, id.Owner, err)
	}
	if !ok {
		cond, _ := json.Marshal(view.Access)
		return id, nil, fmt.Errorf("%w: %s does not satisfy the access condition %s of secrets profile %q owned by %s", ErrAccessDenied, req.Caller, cond, id.Profile, id.Owner)
	}
	return id, view, nil
}

func (k *Keystore) getSecrets(ctx context.Context, id Identity) (*contracts.SecretProfileView, error) {
	if k.cfg.Viewer == nil || k.cfg.ContractID == "" {
		return nil, fmt.Errorf("%w: no NEAR client or contract configured", ErrNEARView)
	}
	var view *contracts.SecretProfileView
	args := contracts.GetSecretsArgs{Accessor: id.Accessor, Profile: id.Profile, Owner: id.Owner}
	if err := k.cfg.Viewer.ViewFunction(ctx, k.cfg.ContractID, contracts.MethodGetSecrets, args, &view); err != nil {
		return nil, fmt.Errorf("%w: %s.get_secrets for %s: %w", ErrNEARView, k.cfg.ContractID, id, err)
	}
	if view == nil {
		return nil, fmt.Errorf("%w: %s stores no secrets profile %q of %s for %s", ErrSecretsNotFound, k.cfg.ContractID, id.Profile, id.Owner, describeAccessor(id.Accessor))
	}
	return view, nil
}

func describeAccessor(a contracts.SecretAccessor) string {
	if a.Repo != nil {
		if a.Repo.Commit != nil {
			return "repository " + a.Repo.Repo + " commit " + *a.Repo.Commit
		}
		if a.Repo.Branch != nil {
			return "repository " + a.Repo.Repo + " branch " + *a.Repo.Branch
		}
		return "repository " + a.Repo.Repo
	}
	if a.WasmHash != nil {
		return "WASM " + a.WasmHash.Hash
	}
	if a.Project != nil {
		return "project " + a.Project.ProjectID
	}
	return "no code"
}

// decryptProfile opens the contract's base64 blob and checks its names.
func (k *Keystore) decryptProfile(id Identity, b64 string) (map[string]string, error) {
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: secrets %s are not base64: %w", ErrUndecryptable, id, err)
	}
	priv, err := deriveKey(k.masterKey(), id)
	if err != nil {
		return nil, err
	}
	pt, err := open(priv, ECIESInfo, nil, blob)
	if err != nil {
		return nil, fmt.Errorf("secrets %s: %w", id, err)
	}
	defer clear(pt)
	return ParseSecrets(pt)
}

// ParseSecrets parses a plaintext secrets object: a JSON object whose
// values are strings and whose names are valid and not reserved.
func ParseSecrets(plaintext []byte) (map[string]string, error) {
	var m map[string]string
	dec := json.NewDecoder(bytes.NewReader(plaintext))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, fmt.Errorf("%w: the secrets must be one JSON object of string values, like {\"API_KEY\":\"...\"}", ErrBadSecrets)
	}
	for name, v := range m {
		if err := CheckSecretName(name, false); err != nil {
			return nil, err
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("%w: secret %q contains a NUL byte", ErrBadSecrets, name)
		}
	}
	return m, nil
}

// ErrorKind classifies an error of SecretsFor: a final kind for one that is
// the request's fault, failure.SecretsNotReady for one that is the node's
// (not ready, RPC trouble), after which the request runs elsewhere or later.
func ErrorKind(err error) failure.Kind {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMasterLost):
		// Checked first: no node of this cluster can ever serve it, so
		// the request fails instead of waiting for one.
		return failure.SecretsUnavailable
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrNEARView), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure.SecretsNotReady
	case errors.Is(err, ErrAccessDenied), errors.Is(err, ErrAccessCheck):
		return failure.AccessDenied
	case errors.Is(err, ErrSecretsNotFound):
		return failure.SecretsNotFound
	}
	return failure.SecretsInvalid
}

// generated decrypts the cluster-generated secrets of id, after making
// this replica current (a secret generated through another node a moment
// ago must not be missing from the run).
func (k *Keystore) generated(ctx context.Context, id Identity) (map[string]string, error) {
	if err := k.cfg.Cluster.LinearizableRead(ctx); err != nil {
		return nil, fmt.Errorf("%w: read the generated secrets: %w", ErrNotReady, err)
	}
	prefix := entryGenPrefix + id.entryID() + "/"
	names, err := k.cfg.Cluster.Store().SealedNames(prefix)
	if err != nil {
		return nil, fmt.Errorf("read the generated secrets: %w", err)
	}
	out := make(map[string]string, len(names))
	for _, entry := range names {
		sealed, err := k.cfg.Cluster.Store().Sealed(entry)
		if err != nil {
			return nil, fmt.Errorf("read generated secret %s: %w", entry, err)
		}
		rec, err := k.openGenerated(entry, sealed)
		if err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(entry, prefix)] = rec.Value
	}
	return out, nil
}

type generatedRecord struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	CreatedBy string `json:"created_by"`
}

func (k *Keystore) genAEADKey() ([]byte, error) { return subKey(k.masterKey(), "generated/v1") }

func (k *Keystore) sealGenerated(entry string, rec generatedRecord) ([]byte, error) {
	key, err := k.genAEADKey()
	if err != nil {
		return nil, err
	}
	pt, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return symSeal(key, k.cfg.Random, entry, pt)
}

func (k *Keystore) openGenerated(entry string, sealed []byte) (*generatedRecord, error) {
	key, err := k.genAEADKey()
	if err != nil {
		return nil, err
	}
	pt, err := symOpen(key, entry, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: generated secret %s: %w", ErrUndecryptable, entry, err)
	}
	defer clear(pt)
	var rec generatedRecord
	if err := json.Unmarshal(pt, &rec); err != nil {
		return nil, fmt.Errorf("%w: generated secret %s: %w", ErrUndecryptable, entry, err)
	}
	return &rec, nil
}

// GeneratedNames lists the names of id's generated secrets (never values).
func (k *Keystore) GeneratedNames(id Identity) ([]string, error) {
	id, err := id.Normalize()
	if err != nil {
		return nil, err
	}
	prefix := entryGenPrefix + id.entryID() + "/"
	names, err := k.cfg.Cluster.Store().SealedNames(prefix)
	if err != nil {
		return nil, err
	}
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], prefix)
	}
	sort.Strings(names)
	return names, nil
}

var _ Cluster = (*consensus.Node)(nil)
