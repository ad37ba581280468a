package keystore

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/mr-tron/base58"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/outlayer/outlayer/contracts"
)

func repoID(repo, branch, owner, profile string) Identity {
	ra := &contracts.RepoAccessor{Repo: repo}
	if branch != "" {
		ra.Branch = &branch
	}
	return Identity{Accessor: contracts.SecretAccessor{Repo: ra}, Owner: owner, Profile: profile}
}

// TestECIESLayout encrypts with the client code and takes the blob apart
// field by field as the reference describes upstream's ECIES v1:
// 0x01 || eph_pub(32) || nonce(12) || ct || tag(16), AEAD key =
// HKDF-SHA256(salt none, ikm ECDH, info "outlayer-keystore-v1"), empty AAD.
func TestECIESLayout(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	id, err := repoID("https://github.com/alice/project/", "", "alice.near", "default").Normalize()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := deriveKey(master, id)
	if err != nil {
		t.Fatal(err)
	}
	var pub PublicKey
	copy(pub[:], priv.PublicKey().Bytes())
	plaintext := []byte(`{"API_KEY":"sk-123"}`)

	b64, err := EncryptSecrets(rand.Reader, pub, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("the client's output is not standard base64: %v", err)
	}
	if got, want := len(blob), 1+32+12+len(plaintext)+16; got != want {
		t.Fatalf("blob is %d bytes, want 1+32+12+%d+16 = %d", got, len(plaintext), want)
	}
	if blob[0] != 0x01 {
		t.Fatalf("byte 0 is 0x%02x, want the version 0x01", blob[0])
	}
	ephPub := blob[1:33]
	nonce := blob[33:45]
	ctAndTag := blob[45:]

	// Recompute the AEAD key independently from the recipient side.
	eph, err := ecdh.X25519().NewPublicKey(ephPub)
	if err != nil {
		t.Fatalf("bytes 1..33 are not an X25519 public key: %v", err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, shared, nil, "outlayer-keystore-v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := chacha20poly1305.New(key)
	pt, err := aead.Open(nil, nonce, ctAndTag, nil)
	if err != nil {
		t.Fatalf("ChaCha20-Poly1305 with the HKDF key, nonce = bytes 33..45 and empty AAD does not open the rest: %v", err)
	}
	if !bytes.Equal(pt, plaintext) {
		t.Fatalf("plaintext %q, want %q", pt, plaintext)
	}
	// The tag is the last 16 bytes: the ciphertext alone is the XOR stream.
	if len(ctAndTag)-16 != len(plaintext) {
		t.Fatalf("ciphertext is %d bytes, want %d plus a 16-byte tag", len(ctAndTag)-16, len(plaintext))
	}

	// And the keystore's own path decrypts it.
	got, err := open(priv, ECIESInfo, nil, blob)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("keystore open: %q, %v", got, err)
	}

	// A blob built by hand the way upstream's Rust does opens too
	// (interoperability in the other direction).
	ephPriv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared2, _ := ephPriv.ECDH(priv.PublicKey())
	key2, _ := hkdf.Key(sha256.New, shared2, nil, "outlayer-keystore-v1", 32)
	aead2, _ := chacha20poly1305.New(key2)
	n2 := make([]byte, 12)
	rand.Read(n2)
	hand := append(append(append([]byte{1}, ephPriv.PublicKey().Bytes()...), n2...), aead2.Seal(nil, n2, plaintext, nil)...)
	if got, err := open(priv, ECIESInfo, nil, hand); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("hand-built blob: %q, %v", got, err)
	}

	// Tampering with any field fails with ErrUndecryptable.
	for _, i := range []int{0, 1, 20, 33, 44, 45, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x40
		if _, err := open(priv, ECIESInfo, nil, bad); !errors.Is(err, ErrUndecryptable) {
			t.Errorf("flipping byte %d: err %v, want ErrUndecryptable", i, err)
		}
	}
	if _, err := open(priv, ECIESInfo, nil, blob[:60]); !errors.Is(err, ErrUndecryptable) {
		t.Errorf("60-byte blob: %v", err)
	}
	// Another identity's key cannot open it.
	other, _ := deriveKey(master, repoID("github.com/alice/project", "", "bob.near", "default"))
	if _, err := open(other, ECIESInfo, nil, blob); !errors.Is(err, ErrUndecryptable) {
		t.Errorf("another identity's key: %v", err)
	}
}

func TestKeysDependOnEveryIdentityField(t *testing.T) {
	master := bytes.Repeat([]byte{9}, 32)
	ids := []Identity{
		repoID("github.com/a/b", "", "alice.near", "default"),
		repoID("github.com/a/b", "main", "alice.near", "default"),
		repoID("github.com/a/b", "", "bob.near", "default"),
		repoID("github.com/a/b", "", "alice.near", "prod"),
		repoID("github.com/a/c", "", "alice.near", "default"),
		{Accessor: contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: strings.Repeat("ab", 32)}}, Owner: "alice.near", Profile: "default"},
	}
	seen := map[string]int{}
	for i, id := range ids {
		id, err := id.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		k, _ := deriveKey(master, id)
		h := hex.EncodeToString(k.PublicKey().Bytes())
		if j, dup := seen[h]; dup {
			t.Errorf("identities %d and %d share a key", i, j)
		}
		seen[h] = i
	}
	// Same identity written differently: same key.
	a, _ := repoID("https://github.com/a/b/", "", "alice.near", "default").Normalize()
	b, _ := repoID("github.com/a/b", "", "alice.near", "default").Normalize()
	ka, _ := deriveKey(master, a)
	kb, _ := deriveKey(master, b)
	if !ka.PublicKey().Equal(kb.PublicKey()) {
		t.Error("https:// and trailing slash change the key; the contract normalises them away")
	}
	// Another master: another key.
	kc, _ := deriveKey(bytes.Repeat([]byte{8}, 32), a)
	if ka.PublicKey().Equal(kc.PublicKey()) {
		t.Error("the key does not depend on the master secret")
	}
}

func TestSeedsAsUpstream(t *testing.T) {
	cases := []struct {
		id   Identity
		want string
	}{
		{repoID("https://github.com/alice/project", "", "alice.near", "default"), "github.com/alice/project:alice.near"},
		{repoID("github.com/alice/project", "dev", "alice.near", "default"), "github.com/alice/project:alice.near:dev"},
		{Identity{Accessor: contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: strings.Repeat("AB", 32)}}, Owner: "alice.near", Profile: "p"},
			"wasm_hash:" + strings.Repeat("ab", 32) + ":alice.near"},
	}
	for _, c := range cases {
		n, err := c.id.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Seed(); got != c.want {
			t.Errorf("seed %q, want %q", got, c.want)
		}
	}
	bad := []Identity{
		repoID("git@github.com:a/b", "", "alice.near", "default"),
		repoID("github.com/a/b", "a:b", "alice.near", "default"),
		repoID("github.com/a/b", "", "Alice", "default"),
		repoID("github.com/a/b", "", "alice.near", "bad profile"),
		repoID("", "", "alice.near", "default"),
		{Accessor: contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: "abc"}}, Owner: "alice.near", Profile: "p"},
		{Owner: "alice.near", Profile: "p"},
	}
	for _, id := range bad {
		if _, err := id.Normalize(); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("%+v: err %v, want ErrBadIdentity", id, err)
		}
	}
}

// TestNodeKeyConversion: the X25519 public key computed from the peer's
// ed25519 public key matches the one computed from its private key, so a
// master sealed to the attested key opens only with that node's key.
func TestNodeKeyConversion(t *testing.T) {
	for range 20 {
		priv, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x, err := nodeX25519Private(priv)
		if err != nil {
			t.Fatal(err)
		}
		xp, err := nodeX25519Public(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x.PublicKey().Bytes(), xp) {
			t.Fatalf("converted keys disagree: %x vs %x", x.PublicKey().Bytes(), xp)
		}
		sealed, err := seal(rand.Reader, xp, masterTransferInfo, []byte("aad"), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := open(x, masterTransferInfo, []byte("aad"), sealed); err != nil || string(pt) != "secret" {
			t.Fatalf("open: %q %v", pt, err)
		}
		if _, err := open(x, masterTransferInfo, []byte("other aad"), sealed); err == nil {
			t.Fatal("opened with the wrong associated data")
		}
	}
	if _, err := ed25519PublicToX25519(make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
	one := make([]byte, 32)
	one[0] = 1 // y = 1: the identity point
	if _, err := ed25519PublicToX25519(one); err == nil {
		t.Error("identity point accepted")
	}
}

func TestSecretNamesAndParsing(t *testing.T) {
	if _, err := ParseSecrets([]byte(`{"API_KEY":"x","db_url":"y"}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"NEAR_SENDER_ID":"x"}`, `{"PROTECTED_X":"x"}`, `{"1ABC":"x"}`, `{"A-B":"x"}`, `{"":"x"}`,
		`{"A":1}`, `["A"]`, `null`, `{"A":"x"} {"B":"y"}`, `{"A":"x\u0000"}`, `not json`,
	} {
		if _, err := ParseSecrets([]byte(bad)); !errors.Is(err, ErrBadSecrets) {
			t.Errorf("%s: err %v, want ErrBadSecrets", bad, err)
		}
	}
	var pub PublicKey
	if _, err := EncryptSecrets(rand.Reader, pub, []byte(`{"NEAR_X":"y"}`)); !errors.Is(err, ErrBadSecrets) {
		t.Errorf("EncryptSecrets accepted a NEAR_ name: %v", err)
	}
}

func TestGeneratedValues(t *testing.T) {
	check := func(typ string, ok func(string) bool) {
		t.Helper()
		a, err := generateValue(rand.Reader, typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		b, _ := generateValue(rand.Reader, typ)
		if a == b {
			t.Errorf("%s: two values are equal: %s", typ, a)
		}
		if !ok(a) {
			t.Errorf("%s: malformed value %q", typ, a)
		}
	}
	hexLen := func(n int) func(string) bool {
		return func(s string) bool { b, err := hex.DecodeString(s); return err == nil && len(b) == n }
	}
	check("hex16", hexLen(16))
	check("hex32", hexLen(32))
	check("hex64", hexLen(64))
	check("ed25519_seed", hexLen(32))
	check("ed25519", func(s string) bool {
		raw, err := base58.Decode(strings.TrimPrefix(s, "ed25519:"))
		if err != nil || len(raw) != 64 || !strings.HasPrefix(s, "ed25519:") {
			return false
		}
		k := ed25519.NewKeyFromSeed(raw[:32])
		return bytes.Equal(k, raw) // seed || matching public key, NEAR's form
	})
	alnum := func(n int) func(string) bool {
		return func(s string) bool {
			if len(s) != n {
				return false
			}
			for _, c := range s {
				if !strings.ContainsRune(passwordAlphabet, c) {
					return false
				}
			}
			return true
		}
	}
	check("password", alnum(32))
	check("password:128", alnum(128))
	for _, bad := range []string{"hex8", "password:4", "password:x", "hex32:2", "rsa", ""} {
		if err := CheckGenerateSpec(GenerateSpec{Name: "PROTECTED_X", Type: bad}); !errors.Is(err, ErrBadSecrets) {
			t.Errorf("type %q: %v", bad, err)
		}
	}
	if err := CheckGenerateSpec(GenerateSpec{Name: "API_KEY", Type: "hex32"}); !errors.Is(err, ErrBadSecrets) {
		t.Errorf("unprefixed generated name accepted: %v", err)
	}
}

func TestFileSealer(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFileSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("master/node/A", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewFileSealer(dir) // reloads the same key
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s2.Unseal("master/node/A", sealed); err != nil || string(pt) != "m" {
		t.Fatalf("unseal after reload: %q %v", pt, err)
	}
	if _, err := s2.Unseal("master/node/B", sealed); err == nil {
		t.Error("a sealed value opened under another entry name")
	}
	other, _ := NewFileSealer(t.TempDir())
	if _, err := other.Unseal("master/node/A", sealed); err == nil {
		t.Error("another node's sealing key opened the copy")
	}
	if _, err := NewTDXSealer(); !errors.Is(err, ErrNoTDXSealing) {
		t.Errorf("TDX sealer: %v", err)
	}
}

// Without the master there is no seed: a node that cannot derive the
// cluster's seed must not run the request with another one.
func TestRequestSeedNeedsTheMaster(t *testing.T) {
	var k Keystore
	if _, err := k.RequestSeed([]byte("request 1")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("seed without a master: %v", err)
	}
}
