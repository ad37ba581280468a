package near

import (
	"encoding/json"
	"testing"
)

func benchTx(b *testing.B) (*KeyPair, Transaction) {
	kp := testKey(b, 1)
	return kp, Transaction{SignerID: "alice.test.near", PublicKey: kp.PublicKey(), Nonce: 42, ReceiverID: "counter.test.near",
		BlockHash: HashBytes([]byte("b")), Actions: []Action{FunctionCall{MethodName: "increment", Args: []byte(`{"by":1}`), Gas: 30 * TGas}}}
}

// BenchmarkSignTransaction: borsh-encode, hash and ed25519-sign a function call.
func BenchmarkSignTransaction(b *testing.B) {
	kp, tx := benchTx(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = kp.SignTransaction(tx).Bytes()
	}
}

// BenchmarkDecodeVerifySignedTransaction is what the devchain does per
// received transaction: decode, hash and verify the signature.
func BenchmarkDecodeVerifySignedTransaction(b *testing.B) {
	kp, tx := benchTx(b)
	raw := kp.SignTransaction(tx).Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		st, err := DecodeSignedTransaction(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSignedTransaction is decoding alone.
func BenchmarkDecodeSignedTransaction(b *testing.B) {
	kp, tx := benchTx(b)
	raw := kp.SignTransaction(tx).Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeSignedTransaction(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalFinalExecutionOutcome is the client's per-call JSON cost.
func BenchmarkUnmarshalFinalExecutionOutcome(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sampleOutcome)))
	for b.Loop() {
		var o FinalExecutionOutcome
		if err := json.Unmarshal([]byte(sampleOutcome), &o); err != nil {
			b.Fatal(err)
		}
	}
}
