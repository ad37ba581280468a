package keystore

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
)

// BenchmarkDecryptSecrets is the keystore's share of a run with secrets:
// derive the identity's key, open a 1 KiB ECIES blob, parse the names.
func BenchmarkDecryptSecrets(b *testing.B) {
	master := bytes.Repeat([]byte{1}, 32)
	id, _ := repoID("github.com/alice/app", "", "alice.near", "default").Normalize()
	priv, _ := deriveKey(master, id)
	var pub PublicKey
	copy(pub[:], priv.PublicKey().Bytes())
	pt := []byte(`{"API_KEY":"` + string(bytes.Repeat([]byte("x"), 1000)) + `"}`)
	blob, _ := Encrypt(rand.Reader, pub, pt)
	b.ReportAllocs()
	for b.Loop() {
		k, err := deriveKey(master, id)
		if err != nil {
			b.Fatal(err)
		}
		out, err := open(k, ECIESInfo, nil, blob)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseSecrets(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptSecrets is the client side (`outlayerd secrets encrypt`).
func BenchmarkEncryptSecrets(b *testing.B) {
	var pub PublicKey
	k, _ := deriveKey(bytes.Repeat([]byte{1}, 32), repoID("github.com/alice/app", "", "alice.near", "default"))
	copy(pub[:], k.PublicKey().Bytes())
	pt := []byte(`{"API_KEY":"` + string(bytes.Repeat([]byte("x"), 1000)) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncryptSecrets(rand.Reader, pub, pt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandOverTDX is one hand-over of the master to a member that
// attests afresh: the member's transfer nonce, a quote from the test PCK
// chain over it, the quote's verification against the policy, and the
// master ECIES-sealed to the requester's key, on loopback.
func BenchmarkHandOverTDX(b *testing.B) {
	h := newHarness(b, nil, "")
	h.memoryOnly = true
	h.cluster(2)
	member, requester := h.nodes[0], h.nodes[1]
	ca, err := attesttest.NewCA()
	if err != nil {
		b.Fatal(err)
	}
	var good attest.Measurements
	good.MRTD[0] = 0x44
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}}
	member.ks.cfg.Verifier = attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})}
	requester.ks.cfg.Attester = attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: good}}}
	for b.Loop() {
		if _, err := requester.ks.requestMaster(h.ctx, member.cons.PeerID()); err != nil {
			b.Fatal(err)
		}
	}
}
