package keystore

import (
	"crypto/hmac"
	"crypto/sha256"
)

// VRFSeed is the Ed25519 seed of the cluster's VRF key, derived from the
// master secret as upstream OutLayer derives it: the first 32 bytes of
// HMAC-SHA256(master, "vrf-key"). Every node holding the master has the
// same key, so any executor draws the same outputs.
func (k *Keystore) VRFSeed() ([]byte, error) {
	master := k.masterKey()
	if master == nil {
		return nil, k.notReady()
	}
	return vrfSeed(master), nil
}

func vrfSeed(master []byte) []byte {
	mac := hmac.New(sha256.New, master)
	mac.Write([]byte("vrf-key"))
	return mac.Sum(nil)[:32]
}
