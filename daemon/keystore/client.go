package keystore

import (
	"encoding/base64"
	"io"
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
