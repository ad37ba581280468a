package keystore

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// EncryptSecrets is the client side of `outlayerd secrets encrypt`: it
// checks that plaintext is a JSON object of string values with names a
// program may receive, encrypts it to pub (ECIES v1) and returns the
// standard base64 the contract's store_secrets takes. The plaintext never
// leaves the caller's machine.
func EncryptSecrets(random io.Reader, pub PublicKey, plaintext []byte) (string, error) {
	if _, err := ParseSecrets(plaintext); err != nil {
		return "", err
	}
	blob, err := Encrypt(random, pub, plaintext)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(blob), nil
}

// StoreSecrets calls the contract's store_secrets as s, attaching exactly
// what estimate_storage_cost says the record costs (for an update the
// contract counts the old deposit too and refunds any excess). It returns
// the deposit attached.
func StoreSecrets(ctx context.Context, s *near.Signer, contract string, args contracts.StoreSecretsArgs) (near.U128, *near.FinalExecutionOutcome, error) {
	var deposit near.U128
	est := contracts.EstimateStorageCostArgs{Accessor: args.Accessor, Profile: args.Profile, Owner: s.AccountID(),
		EncryptedSecretsBase64: args.EncryptedSecretsBase64, Access: args.Access}
	if err := s.Client().ViewFunction(ctx, contract, contracts.MethodEstimateStorageCost, est, &deposit); err != nil {
		return deposit, nil, fmt.Errorf("estimate the storage deposit: %w", err)
	}
	out, err := s.CallFunction(ctx, contract, contracts.MethodStoreSecrets, args, 50*near.TGas, deposit)
	if err != nil {
		return deposit, out, fmt.Errorf("store_secrets: %w", err)
	}
	return deposit, out, nil
}
