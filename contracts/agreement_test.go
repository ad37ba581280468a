package contracts

import (
	"encoding/json"
	"testing"
)

// new takes the agreement fields beside owner_id, flat.
func TestNewArgsCarryTheAgreementFlat(t *testing.T) {
	k := uint64(2)
	b, err := json.Marshal(NewArgs{OwnerID: "o.near", AgreementArgs: AgreementArgs{ChainID: "mainnet", DefaultSignatures: &k}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"owner_id":"o.near","chain_id":"mainnet","default_signatures":2}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if b, _ := json.Marshal(NewArgs{OwnerID: "o.near"}); string(b) != `{"owner_id":"o.near"}` {
		t.Fatalf("without agreement fields: %s", b)
	}
}
