package keystore

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// ErrBadIdentity marks an accessor, owner or profile that cannot name a key.
var ErrBadIdentity = errors.New("invalid secrets identity")

// Identity names one key pair: the code that may see the secrets (a
// repository, optionally one branch, or a WASM hash), the account that owns
// them, and the profile.
type Identity struct {
	Accessor contracts.SecretAccessor
	Owner    string
	Profile  string
}

// DefaultProfile is the profile the CLI and the HTTP API use when none is
// given.
const DefaultProfile = "default"

// NormalizeRepo puts a repository the way the OutLayer contract stores it:
// without an http(s):// scheme and without trailing slashes.
func NormalizeRepo(repo string) string {
	r := strings.TrimSpace(repo)
	if s, ok := strings.CutPrefix(r, "https://"); ok {
		r = s
	} else if s, ok := strings.CutPrefix(r, "http://"); ok {
		r = s
	}
	return strings.TrimRight(r, "/")
}

// Normalize validates id and returns it in canonical form (repository
// normalised, WASM hash lowercased), as the contract stores it.
func (id Identity) Normalize() (Identity, error) {
	out := Identity{Owner: id.Owner, Profile: id.Profile}
	if err := near.ValidateAccountID(id.Owner); err != nil {
		return out, fmt.Errorf("%w: owner: %w", ErrBadIdentity, err)
	}
	if err := validProfile(id.Profile); err != nil {
		return out, err
	}
	switch a := id.Accessor; {
	case a.Repo != nil && a.WasmHash == nil && a.Project == nil:
		repo := NormalizeRepo(a.Repo.Repo)
		if repo == "" || len(repo) > 512 || !printable(repo) {
			return out, fmt.Errorf("%w: repository %q must be 1-512 characters without spaces", ErrBadIdentity, a.Repo.Repo)
		}
		// ':' separates the seed's fields; no git host path needs it once
		// the scheme is gone, and refusing it keeps seeds unambiguous.
		if strings.Contains(repo, ":") {
			return out, fmt.Errorf("%w: repository %q contains ':' (write it as host/owner/name, e.g. github.com/alice/project)", ErrBadIdentity, a.Repo.Repo)
		}
		r := &contracts.RepoAccessor{Repo: repo}
		if a.Repo.Commit != nil {
			c := strings.ToLower(*a.Repo.Commit)
			if a.Repo.Branch != nil || !isFullSHA(c) {
				return out, fmt.Errorf("%w: commit %q must be a full commit hash (40 hex digits), without a branch", ErrBadIdentity, *a.Repo.Commit)
			}
			r.Commit = &c
		}
		if a.Repo.Branch != nil {
			b := *a.Repo.Branch
			// Git refuses ':' in ref names, so a branch containing one is a
			// mistake, and it would make the seed ambiguous.
			if b == "" || len(b) > 255 || !printable(b) || strings.Contains(b, ":") {
				return out, fmt.Errorf("%w: branch %q must be 1-255 characters without spaces or ':'", ErrBadIdentity, b)
			}
			r.Branch = &b
		}
		out.Accessor = contracts.SecretAccessor{Repo: r}
	case a.Project != nil && a.Repo == nil && a.WasmHash == nil:
		pid := a.Project.ProjectID
		owner, name, ok := strings.Cut(pid, "/")
		if !ok || near.ValidateAccountID(owner) != nil || name == "" || strings.ContainsAny(name, "/:") || !printable(name) || len(pid) > 256 {
			return out, fmt.Errorf("%w: project %q must be <owner account>/<name>", ErrBadIdentity, pid)
		}
		out.Accessor = contracts.SecretAccessor{Project: &contracts.ProjectAccessor{ProjectID: pid}}
	case a.WasmHash != nil && a.Repo == nil && a.Project == nil:
		h := strings.ToLower(a.WasmHash.Hash)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return out, fmt.Errorf("%w: WASM hash %q is not 64 hex digits", ErrBadIdentity, a.WasmHash.Hash)
		}
		out.Accessor = contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: h}}
	default:
		return out, fmt.Errorf("%w: give exactly one of a repository, a WASM hash and a project", ErrBadIdentity)
	}
	return out, nil
}

// Seed is upstream's seed string for the identity (profile aside):
// "<repo>:<owner>", "<repo>:<owner>:<branch>", "wasm_hash:<hash>:<owner>"
// or "project:<project_id>:<owner>"; a commit-bound identity (ours) is
// "<repo>:<owner>:commit:<sha>", which no branch can spell (branches never
// contain ':').
// Call it on a normalised identity.
func (id Identity) Seed() string {
	if r := id.Accessor.Repo; r != nil && r.Commit != nil {
		return r.Repo + ":" + id.Owner + ":commit:" + *r.Commit
	}
	if r := id.Accessor.Repo; r != nil {
		if r.Branch != nil {
			return r.Repo + ":" + id.Owner + ":" + *r.Branch
		}
		return r.Repo + ":" + id.Owner
	}
	if w := id.Accessor.WasmHash; w != nil {
		return "wasm_hash:" + w.Hash + ":" + id.Owner
	}
	if p := id.Accessor.Project; p != nil {
		return "project:" + p.ProjectID + ":" + id.Owner
	}
	return ""
}

func (id Identity) String() string { return id.Seed() + " profile " + id.Profile }

// keyInfo is the HKDF info for the identity's X25519 key: a purpose label,
// then the seed and the profile, each length-prefixed so no two identities
// share an info string.
func (id Identity) keyInfo() string {
	var b strings.Builder
	b.WriteString("outlayer/keystore/x25519/v1")
	for _, f := range []string{id.Seed(), id.Profile} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		b.Write(n[:])
		b.WriteString(f)
	}
	return b.String()
}

// entryID names the identity in the replicated keystore bucket (generated
// secrets) without putting the owner's repository in a key name.
func (id Identity) entryID() string {
	sum := sha256.Sum256([]byte(id.keyInfo()))
	return hex.EncodeToString(sum[:16])
}

// deriveKey is the identity's X25519 private key:
// HKDF-SHA256(ikm = master, salt = none, info = keyInfo), 32 bytes.
func deriveKey(master []byte, id Identity) (*ecdh.PrivateKey, error) {
	k, err := hkdf.Key(sha256.New, master, nil, id.keyInfo(), 32)
	if err != nil {
		return nil, fmt.Errorf("derive the key of %s: %w", id, err)
	}
	return ecdh.X25519().NewPrivateKey(k)
}

// subKey derives a symmetric key for one internal purpose.
func subKey(master []byte, purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, master, nil, "outlayer/keystore/"+purpose, 32)
}

func validProfile(p string) error {
	if p == "" || len(p) > 64 {
		return fmt.Errorf("%w: profile %q must be 1-64 characters of A-Z a-z 0-9 _ -", ErrBadIdentity, p)
	}
	for _, c := range p {
		if !(c == '_' || c == '-' || c < 128 && (unicode.IsLetter(c) || unicode.IsDigit(c))) {
			return fmt.Errorf("%w: profile %q must be 1-64 characters of A-Z a-z 0-9 _ -", ErrBadIdentity, p)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// AccessorFor is the accessor a request's code source selects, as upstream
// derives it: a git source gives its repository, with the commit as the
// branch when the commit is not a SHA, or as the commit when it is a full
// 40-digit one (either way the contract falls back to the repository-wide
// entry); a WASM source gives its hash.
//
// A request that runs a project's version uses the project's secrets
// instead (ProjectAccessor), whatever the version: see RequestForJob.
func AccessorFor(code store.CodeSource) (contracts.SecretAccessor, error) {
	switch {
	case code.Git != nil && code.Wasm == nil:
		r := &contracts.RepoAccessor{Repo: NormalizeRepo(code.Git.Repo)}
		switch c := code.Git.Commit; {
		case isFullSHA(strings.ToLower(c)):
			lc := strings.ToLower(c)
			r.Commit = &lc
		case c != "" && !looksLikeSHA(c):
			r.Branch = &c
		}
		return contracts.SecretAccessor{Repo: r}, nil
	case code.Wasm != nil && code.Git == nil:
		return contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: strings.ToLower(code.Wasm.Hash)}}, nil
	}
	return contracts.SecretAccessor{}, fmt.Errorf("%w: the code source must be exactly one of a git repository and a WASM URL", ErrBadIdentity)
}

// isFullSHA: exactly 40 lowercase hex digits, a whole commit id.
func isFullSHA(s string) bool {
	return len(s) == 40 && strings.Trim(s, "0123456789abcdef") == ""
}

// looksLikeSHA: 7 to 40 hex digits, which git would read as a commit id.
func looksLikeSHA(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// seedInfo opens the HKDF info of a request seed.
const seedInfo = "outlayer/keystore/request-seed/v1\x00"

// RequestSeed derives the random seed of one request from the master
// secret: HKDF-SHA256(ikm = master, salt = none, info = seedInfo ‖
// request), 32 bytes. request identifies the request (the caller
// encodes the contract, request id and data id); every node that holds
// the master derives the same seed, nobody without it can.
func (k *Keystore) RequestSeed(request []byte) ([32]byte, error) {
	var seed [32]byte
	m := k.masterKey()
	if m == nil {
		return seed, k.notReady()
	}
	b, err := hkdf.Key(sha256.New, m, nil, seedInfo+string(request), len(seed))
	if err != nil {
		return seed, fmt.Errorf("deriving the request seed: %w", err)
	}
	copy(seed[:], b)
	return seed, nil
}
