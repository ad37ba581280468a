package contracts

import (
	"strings"
	"testing"
)

func TestParsePaymentKey(t *testing.T) {
	secret := strings.Repeat("Ab", 32)
	k, err := ParsePaymentKey("alice.near:7:" + secret)
	if err != nil || k.Owner != "alice.near" || k.Nonce != 7 || k.Secret != strings.ToLower(secret) {
		t.Fatalf("parsed %+v, %v", k, err)
	}
	if k.String() != "alice.near:7:"+strings.ToLower(secret) {
		t.Errorf("String = %s", k)
	}
	// upstream's key_hash: hex(sha256(lower-case secret)); "ab"×32 hashed.
	if k.Hash() != PaymentKeyHash(secret) || len(k.Hash()) != 64 || k.Hash() == PaymentKeyHash("x") {
		t.Errorf("hash = %s", k.Hash())
	}
	for _, bad := range []string{
		"", "alice.near", "alice.near:7", "alice.near:0:" + secret, "alice.near:x:" + secret,
		"alice.near:4294967296:" + secret, "Alice!:7:" + secret, "alice.near:7:" + secret[:63],
		"alice.near:7:" + strings.Repeat("zz", 32), "alice.near:7:" + secret + "0",
	} {
		_, err := ParsePaymentKey(bad)
		if err == nil {
			t.Errorf("accepted %q", bad)
			continue
		}
		if strings.Contains(err.Error(), strings.ToLower(secret)[:16]) || strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("error for %q contains the secret: %v", bad, err)
		}
	}
}
