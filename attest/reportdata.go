package attest

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// ReportData is the 64 bytes a TEE quote carries for the quoting party.
type ReportData [64]byte

// Purposes of report data. A quote made for one purpose can never be
// replayed for another, because the purpose is hashed in.
const (
	PurposeNodeKey = "node-key" // a node proves it holds its libp2p key (join, challenges)
)

// reportDataDomain separates OutLayer's report data from any other
// software that quotes on the same machine.
const reportDataDomain = "outlayer/attest/report-data/v1"

// BindReportData computes the report data for purpose and fields:
//
//	SHA-512( domain || 0x00 || purpose || 0x00 || for each field: u32be(len) || field )
//
// Length prefixes keep field boundaries unambiguous, so ("ab","c") and
// ("a","bc") never collide. SHA-512's 64 bytes fill the report data
// exactly.
func BindReportData(purpose string, fields ...[]byte) ReportData {
	h := sha512.New()
	h.Write([]byte(reportDataDomain))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	var n [4]byte
	for _, f := range fields {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	var rd ReportData
	copy(rd[:], h.Sum(nil))
	return rd
}

// NodeKeyReportData binds a node's public key (the raw bytes of its
// libp2p ed25519 key) and a verifier's nonce: what a joining node quotes
// over, and what the leader expects.
func NodeKeyReportData(publicKey, nonce []byte) ReportData {
	return BindReportData(PurposeNodeKey, publicKey, nonce)
}

// CheckReportData compares in constant time.
func CheckReportData(got, want ReportData) error {
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return fmt.Errorf("%w: the quote carries %x…, expected %x…", ErrReportData, got[:8], want[:8])
	}
	return nil
}
