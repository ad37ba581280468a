package keystore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// GenerateRequest asks the cluster to create secrets for an identity. The
// owner signs it with one of its full-access NEAR keys, so nobody else can
// pick the names and types of another account's generated secrets.
type GenerateRequest struct {
	Accessor    contracts.SecretAccessor `json:"accessor"`
	Profile     string                   `json:"profile"`
	Owner       string                   `json:"owner"`
	Secrets     []GenerateSpec           `json:"secrets"`
	TimestampMs int64                    `json:"timestamp_ms"`
	PublicKey   near.PublicKey           `json:"public_key"`
	Signature   near.Signature           `json:"signature"`
}

// proofWindow is how far a request's timestamp may be from the node's clock.
const proofWindow = 10 * time.Minute

// SigningMessage is what the owner signs: a purpose line, then the JSON of
// every field but the key and the signature.
func (r *GenerateRequest) SigningMessage() ([]byte, error) {
	body, err := json.Marshal(struct {
		Accessor    contracts.SecretAccessor `json:"accessor"`
		Profile     string                   `json:"profile"`
		Owner       string                   `json:"owner"`
		Secrets     []GenerateSpec           `json:"secrets"`
		TimestampMs int64                    `json:"timestamp_ms"`
	}{r.Accessor, r.Profile, r.Owner, r.Secrets, r.TimestampMs})
	if err != nil {
		return nil, err
	}
	return append([]byte("outlayer-generate-secrets-v1\n"), body...), nil
}

// Sign stamps the request with now and signs it with the owner's key.
func (r *GenerateRequest) Sign(kp *near.KeyPair, now time.Time) error {
	r.TimestampMs = now.UnixMilli()
	msg, err := r.SigningMessage()
	if err != nil {
		return err
	}
	r.PublicKey = kp.PublicKey()
	r.Signature = kp.Sign(msg)
	return nil
}

// authenticate checks the signature and that the key is a full-access key
// of the owner account on chain.
func (k *Keystore) authenticate(ctx context.Context, r *GenerateRequest) error {
	if d := time.Since(time.UnixMilli(r.TimestampMs)); d > proofWindow || d < -proofWindow {
		return fmt.Errorf("%w: the request was signed at %s, more than %v from now", ErrUnauthenticated, time.UnixMilli(r.TimestampMs).UTC().Format(time.RFC3339), proofWindow)
	}
	msg, err := r.SigningMessage()
	if err != nil {
		return err
	}
	if r.PublicKey.IsZero() {
		return fmt.Errorf("%w: no public key", ErrUnauthenticated)
	}
	if err := r.PublicKey.Verify(msg, r.Signature); err != nil {
		return fmt.Errorf("%w: the signature does not verify with %s: %w", ErrUnauthenticated, r.PublicKey, err)
	}
	ak, err := k.cfg.Viewer.ViewAccessKey(ctx, r.Owner, r.PublicKey, near.Final())
	if err != nil {
		return fmt.Errorf("%w: %s is not a key of %s: %w", ErrUnauthenticated, r.PublicKey, r.Owner, err)
	}
	if !ak.Permission.IsFullAccess() {
		return fmt.Errorf("%w: %s is a function-call key of %s; sign with a full-access key", ErrUnauthenticated, r.PublicKey, r.Owner)
	}
	return nil
}

// Generate creates the requested secrets for the identity, seals them with
// a key derived from the master secret and replicates them. Names that
// already exist are refused (a generated secret is never replaced: a
// program may already have used it, e.g. as a key holding funds). The
// identity must have a secrets profile on the contract: its access
// condition guards the generated secrets too. It returns the names of all
// the identity's generated secrets; values never leave the cluster.
func (k *Keystore) Generate(ctx context.Context, r GenerateRequest) ([]string, error) {
	if k.masterKey() == nil {
		return nil, ErrNotReady
	}
	id, err := Identity{Accessor: r.Accessor, Owner: r.Owner, Profile: r.Profile}.Normalize()
	if err != nil {
		return nil, err
	}
	if len(r.Secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets to generate", ErrBadSecrets)
	}
	seen := map[string]bool{}
	for _, s := range r.Secrets {
		if err := CheckGenerateSpec(s); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%w: %s is asked for twice", ErrBadSecrets, s.Name)
		}
		seen[s.Name] = true
	}
	if err := k.authenticate(ctx, &r); err != nil {
		return nil, err
	}
	view, err := k.getSecrets(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w (store the profile, with its access condition, before generating secrets for it)", err)
	}
	keyID, err := Identity{Accessor: view.Accessor, Owner: id.Owner, Profile: id.Profile}.Normalize()
	if err != nil {
		return nil, err
	}

	k.genMu.Lock()
	defer k.genMu.Unlock()
	if err := k.cfg.Cluster.LinearizableRead(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	existing, err := k.GeneratedNames(keyID)
	if err != nil {
		return nil, err
	}
	if len(existing)+len(r.Secrets) > maxGenerated {
		return nil, fmt.Errorf("%w: %s would have %d generated secrets; at most %d are kept", ErrBadSecrets, keyID, len(existing)+len(r.Secrets), maxGenerated)
	}
	for _, name := range existing {
		if seen[name] {
			return nil, fmt.Errorf("%w: %s already exists for %s and is never replaced", ErrBadSecrets, name, keyID)
		}
	}
	prefix := entryGenPrefix + keyID.entryID() + "/"
	for _, s := range r.Secrets {
		v, err := generateValue(k.cfg.Random, s.Type)
		if err != nil {
			return nil, err
		}
		entry := prefix + s.Name
		sealed, err := k.sealGenerated(entry, generatedRecord{Type: s.Type, Value: v, CreatedBy: k.self.String()})
		if err != nil {
			return nil, err
		}
		if _, err := k.cfg.Cluster.Apply(ctx, &consensus.KeystorePut{Name: entry, Sealed: sealed}); err != nil {
			return nil, fmt.Errorf("replicate generated secret %s: %w", s.Name, err)
		}
	}
	k.log.Info("secrets generated", "identity", keyID.String(), "count", len(r.Secrets))
	return k.GeneratedNames(keyID)
}
