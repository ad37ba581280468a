package keystore

import (
	"bytes"
	"crypto/rand"
	"testing"
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
