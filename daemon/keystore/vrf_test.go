package keystore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The VRF seed is upstream's HMAC-SHA256(master, "vrf-key"), checked here
// against the HMAC computed independently for a fixed master.
func TestVRFSeedIsUpstreamsDerivation(t *testing.T) {
	master := []byte("0123456789abcdef0123456789abcdef")
	mac := hmac.New(sha256.New, master)
	mac.Write([]byte("vrf-key"))
	if got, want := hex.EncodeToString(vrfSeed(master)), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("seed %s, want %s", got, want)
	}
	if len(vrfSeed(master)) != 32 {
		t.Fatal("the seed is not 32 bytes")
	}
}
