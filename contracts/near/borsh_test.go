package near

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// nearcore's test_serialize_transaction (core/primitives/src/transaction.rs).
func TestTransactionHashVector(t *testing.T) {
	pk, err := ParsePublicKey("ed25519:22skMptHjFWNyuEWY22ftn2AbLPSYpmYwGJRGwpNHbTV")
	if err != nil {
		t.Fatal(err)
	}
	tx := Transaction{
		SignerID:   "test.near",
		PublicKey:  pk,
		Nonce:      1,
		ReceiverID: "123",
		Actions: []Action{
			CreateAccount{},
			DeployContract{Code: []byte{1, 2, 3}},
			FunctionCall{MethodName: "qqq", Args: []byte{1, 2, 3}, Gas: 1000, Deposit: NewU128(1000000)},
			Transfer{Deposit: NewU128(123)},
			Stake{Stake: NewU128(1000000), PublicKey: pk},
			AddKey{PublicKey: pk, AccessKey: AccessKey{Nonce: 0, Permission: AccessKeyPermission{
				FunctionCall: &FunctionCallPermission{ReceiverID: "zzz", MethodNames: []string{"www"}}}}},
			DeleteKey{PublicKey: pk},
			DeleteAccount{BeneficiaryID: "123"},
		},
	}
	if got, want := tx.Hash().String(), "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX"; got != want {
		t.Fatalf("tx hash = %s, want %s", got, want)
	}
	// Decoding the encoding gives the same transaction back.
	r := NewReader(tx.Bytes())
	back := DecodeTransaction(r)
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, tx) {
		t.Fatalf("round trip changed the transaction:\n got %#v\nwant %#v", *back, tx)
	}
}

func testKey(t testing.TB, seed byte) *KeyPair {
	t.Helper()
	kp, err := KeyPairFromSeed(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func allActions(t testing.TB) []Action {
	kp := testKey(t, 7)
	pk := kp.PublicKey()
	allowance := NewU128(5)
	h := HashBytes([]byte("code"))
	inner := DelegateAction{
		SenderID: "alice.near", ReceiverID: "bob.near", Nonce: 9, MaxBlockHeight: 100, PublicKey: pk,
		Actions: []Action{Transfer{Deposit: OneNEAR}, FunctionCall{MethodName: "m", Args: []byte("{}"), Gas: 5, Deposit: NewU128(0)}},
	}
	return []Action{
		CreateAccount{},
		DeployContract{Code: []byte("\x00asm\x01\x00\x00\x00")},
		FunctionCall{MethodName: "inc", Args: []byte(`{"by":1}`), Gas: 30_000_000_000_000, Deposit: MaxU128},
		Transfer{Deposit: OneNEAR},
		Stake{Stake: NewU128(1), PublicKey: pk},
		AddKey{PublicKey: pk, AccessKey: FullAccessKey()},
		AddKey{PublicKey: pk, AccessKey: AccessKey{Nonce: 3, Permission: AccessKeyPermission{FunctionCall: &FunctionCallPermission{
			Allowance: &allowance, ReceiverID: "c.near", MethodNames: []string{}}}}},
		DeleteKey{PublicKey: pk},
		DeleteAccount{BeneficiaryID: "b.near"},
		kp.SignDelegateAction(inner),
		DeployGlobalContract{Code: []byte{1}, DeployMode: GlobalByAccountID},
		UseGlobalContract{Contract: GlobalContractIdentifier{CodeHash: &h}},
		UseGlobalContract{Contract: GlobalContractIdentifier{AccountID: "g.near"}},
		DeterministicStateInit{Code: GlobalContractIdentifier{CodeHash: &h}, Data: map[string][]byte{"b": {2}, "a": {1}}, Deposit: NewU128(7)},
	}
}

func TestActionRoundTrips(t *testing.T) {
	for _, a := range allActions(t) {
		w := NewWriter(0)
		EncodeAction(w, a)
		r := NewReader(w.Bytes())
		back := DecodeAction(r)
		if err := r.Finish(); err != nil {
			t.Fatalf("%s: %v", a.Tag(), err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Fatalf("%s round trip:\n got %#v\nwant %#v", a.Tag(), back, a)
		}
	}
}

func TestSignedTransactionRoundTripAndVerify(t *testing.T) {
	kp := testKey(t, 1)
	tx := Transaction{SignerID: "alice.test.near", PublicKey: kp.PublicKey(), Nonce: 42, ReceiverID: "bob.test.near",
		BlockHash: HashBytes([]byte("block")), Actions: allActions(t)}
	st := kp.SignTransaction(tx)
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	enc := st.Bytes()
	back, err := DecodeSignedTransaction(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != tx.Hash() || back.Size() != len(enc) {
		t.Fatalf("decoded hash/size %s/%d, want %s/%d", back.Hash(), back.Size(), tx.Hash(), len(enc))
	}
	if !reflect.DeepEqual(back.Transaction, tx) || back.Signature != st.Signature {
		t.Fatal("decoded transaction differs")
	}
	if err := back.Verify(); err != nil {
		t.Fatal(err)
	}
	// A flipped bit in the body breaks the signature.
	bad := append([]byte(nil), enc...)
	bad[20] ^= 1
	if st2, err := DecodeSignedTransaction(bad); err == nil && st2.Verify() == nil {
		t.Fatal("tampered transaction still verifies")
	}
	// Trailing bytes and truncation are errors.
	if _, err := DecodeSignedTransaction(append(enc, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for _, n := range []int{0, 1, 10, len(enc) - 1} {
		if _, err := DecodeSignedTransaction(enc[:n]); err == nil {
			t.Fatalf("truncated to %d bytes accepted", n)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	kp := testKey(t, 1)
	base := Transaction{SignerID: "a.near", PublicKey: kp.PublicKey(), Nonce: 1, ReceiverID: "b.near"}
	// V1 prefix.
	v1 := append([]byte{1}, base.Bytes()...)
	v1 = append(v1, kp.Sign([]byte("x")).Bytes()...)
	if _, err := DecodeSignedTransaction(v1); !errors.Is(err, ErrUnsupportedTransactionVersion) {
		t.Fatalf("V1: %v", err)
	}
	// Gas key actions are recognised but unsupported.
	w := NewWriter(0)
	base.Encode(w)
	b := w.Bytes()
	b[len(b)-4] = 1 // one action
	b = append(b, byte(TagTransferToGasKey))
	if _, err := DecodeSignedTransaction(b); !errors.Is(err, ErrUnsupportedAction) {
		t.Fatalf("gas key action: %v", err)
	}
	// Nested delegate.
	d := Delegate{DelegateAction: DelegateAction{SenderID: "a.near", ReceiverID: "b.near", PublicKey: kp.PublicKey(),
		Actions: []Action{Delegate{DelegateAction: DelegateAction{PublicKey: kp.PublicKey()}}}}}
	w = NewWriter(0)
	EncodeAction(w, d)
	r := NewReader(w.Bytes())
	DecodeAction(r)
	if r.Err() == nil {
		t.Fatal("nested delegate accepted")
	}
}

func FuzzDecodeSignedTransaction(f *testing.F) {
	kp := testKey(f, 1)
	tx := Transaction{SignerID: "alice.near", PublicKey: kp.PublicKey(), Nonce: 1, ReceiverID: "bob.near", Actions: allActions(f)}
	f.Add(kp.SignTransaction(tx).Bytes())
	f.Add([]byte{1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeSignedTransaction(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes (borsh is canonical).
		if !bytes.Equal(st.Bytes(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestSecp256k1SignedTransaction(t *testing.T) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := NewPublicKey(SECP256K1, priv.PubKey().SerializeUncompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	tx := Transaction{SignerID: "eth.near", PublicKey: pk, Nonce: 1, ReceiverID: "b.near", Actions: []Action{Transfer{Deposit: NewU128(1)}}}
	h := tx.Hash()
	compact := ecdsa.SignCompact(priv, h[:], false) // <27+v> r s
	sig, err := NewSignature(SECP256K1, append(compact[1:], compact[0]-27))
	if err != nil {
		t.Fatal(err)
	}
	st := &SignedTransaction{Transaction: tx, Signature: sig}
	back, err := DecodeSignedTransaction(st.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(); err != nil {
		t.Fatalf("valid secp256k1 signature rejected: %v", err)
	}
	if p2, err := ParsePublicKey(pk.String()); err != nil || p2 != pk || !strings.HasPrefix(pk.String(), "secp256k1:") {
		t.Fatalf("text form %s: %v", pk, err)
	}
	tx.Nonce = 2
	st = &SignedTransaction{Transaction: tx, Signature: sig}
	if err := st.Verify(); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("signature over another tx: %v", err)
	}
}
