package outlayer

import (
	"fmt"
	"unsafe"
)

// VRFOutput is one verifiable random draw: Output is the SHA-256 of
// Signature, an Ed25519 signature of Alpha ("vrf:{request_id}:{sender}:{seed}")
// by the cluster's VRF key. Anyone can check it against VRFPublicKey.
type VRFOutput struct {
	OutputHex    string
	SignatureHex string
	Alpha        string
}

// VRF draws the verifiable random output for seed (which may not contain
// ':'). The same request and seed always give the same output.
func VRF(seed string) (VRFOutput, error) {
	s := []byte(seed)
	ans, err := bytesCall("vrf_generate", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawVRFGenerate(ptr(s), uint32(len(s)), out, outCap)
	})
	if err != nil {
		return VRFOutput{}, err
	}
	fs, err := splitFields(ans)
	if err != nil || len(fs) != 3 {
		return VRFOutput{}, fmt.Errorf("outlayer: malformed VRF answer from the node")
	}
	return VRFOutput{OutputHex: string(fs[0]), SignatureHex: string(fs[1]), Alpha: string(fs[2])}, nil
}

// VRFPublicKey is the cluster's VRF public key (32 bytes, hex).
func VRFPublicKey() (string, error) {
	ans, err := bytesCall("vrf_pubkey", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawVRFPubkey(out, outCap)
	})
	return string(ans), err
}
