package near

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Transaction is NEAR's TransactionV0, the form every client sends. Its borsh
// encoding has no version byte.
type Transaction struct {
	SignerID   string
	PublicKey  PublicKey
	Nonce      uint64
	ReceiverID string
	BlockHash  CryptoHash
	Actions    []Action
}

// ErrUnsupportedTransactionVersion is returned when decoding a TransactionV1
// (or later) encoding; the devchain maps it to InvalidTransactionVersion.
var ErrUnsupportedTransactionVersion = errors.New("unsupported transaction version")

// Encode writes the borsh form.
func (t *Transaction) Encode(w *Writer) {
	w.String(t.SignerID)
	t.PublicKey.Encode(w)
	w.U64(t.Nonce)
	w.String(t.ReceiverID)
	w.Fixed(t.BlockHash[:])
	w.U32(uint32(len(t.Actions)))
	for _, a := range t.Actions {
		EncodeAction(w, a)
	}
}

// Bytes returns the borsh encoding.
func (t *Transaction) Bytes() []byte {
	w := NewWriter(128)
	t.Encode(w)
	return w.Bytes()
}

// Hash is sha256(borsh(t)): the transaction id and the message that is signed.
func (t *Transaction) Hash() CryptoHash { return sha256.Sum256(t.Bytes()) }

// DecodeTransaction reads a transaction. Like nearcore it looks at the first
// two bytes: a zero second byte means V0 (an account-id length prefix never
// exceeds 255); a first byte of 1 means V1, which is recognised and rejected
// with ErrUnsupportedTransactionVersion.
func DecodeTransaction(r *Reader) *Transaction {
	if r.Err() != nil {
		return nil
	}
	if r.Remaining() < 2 {
		r.Fail(fmt.Errorf("%w: transaction shorter than 2 bytes", ErrShortBuffer))
		return nil
	}
	b0, b1 := r.buf[r.off], r.buf[r.off+1]
	switch {
	case b1 == 0:
	case b0 == 1:
		r.Fail(fmt.Errorf("%w: TransactionV1 (tag 1) is not accepted; sign a V0 transaction", ErrUnsupportedTransactionVersion))
		return nil
	default:
		r.Fail(fmt.Errorf("%w: invalid transaction version tag %d", ErrUnsupportedTransactionVersion, b0))
		return nil
	}
	t := &Transaction{}
	t.SignerID = r.String()
	t.PublicKey = DecodePublicKey(r)
	t.Nonce = r.U64()
	t.ReceiverID = r.String()
	r.FixedInto(t.BlockHash[:])
	n := r.Len(1)
	t.Actions = make([]Action, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		t.Actions = append(t.Actions, DecodeAction(r))
	}
	return t
}

// SignedTransaction is borsh(Transaction) followed by borsh(Signature).
type SignedTransaction struct {
	Transaction Transaction
	Signature   Signature

	// hash and size are filled by decoding, so the hash of a received
	// transaction is over the exact bytes that were sent.
	hash CryptoHash
	size int
}

// Hash is the transaction hash (sha256 of the borsh Transaction).
func (s *SignedTransaction) Hash() CryptoHash {
	if s.size > 0 {
		return s.hash
	}
	return s.Transaction.Hash()
}

// Size is the length of the encoded signed transaction.
func (s *SignedTransaction) Size() int {
	if s.size > 0 {
		return s.size
	}
	return len(s.Bytes())
}

// Encode writes the borsh form.
func (s *SignedTransaction) Encode(w *Writer) {
	s.Transaction.Encode(w)
	s.Signature.Encode(w)
}

// Bytes returns the borsh encoding.
func (s *SignedTransaction) Bytes() []byte {
	w := NewWriter(192)
	s.Encode(w)
	return w.Bytes()
}

// Verify checks the signature over the transaction hash with the
// transaction's public key. (Whether the key belongs to the signer is the
// chain's business.)
func (s *SignedTransaction) Verify() error {
	h := s.Hash()
	if err := s.Transaction.PublicKey.Verify(h[:], s.Signature); err != nil {
		return fmt.Errorf("transaction %s: %w", h, err)
	}
	return nil
}

// DecodeSignedTransaction decodes a borsh SignedTransaction, requiring that
// the input holds exactly one.
func DecodeSignedTransaction(b []byte) (*SignedTransaction, error) {
	r := NewReader(b)
	t := DecodeTransaction(r)
	txEnd := r.Offset()
	sig := DecodeSignature(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("decoding signed transaction: %w", err)
	}
	return &SignedTransaction{
		Transaction: *t,
		Signature:   sig,
		hash:        sha256.Sum256(b[:txEnd]),
		size:        len(b),
	}, nil
}
