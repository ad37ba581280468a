// Package attesttest makes Intel TDX quotes signed by a throwaway PCK
// certificate chain under a test root CA, so that the production
// verification path (go-tdx-guest's signature and chain checks, the
// measurement policy, the report-data binding) runs in tests on machines
// without TDX. Only tests import it: a verifier trusts these quotes only
// when its VerifierConfig.TrustedRoots is set to CA.Roots(), which no flag
// and no configuration file of outlayerd can do.
package attesttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/testing/testdata"
	"google.golang.org/protobuf/proto"

	"github.com/outlayer/outlayer/attest"
)

// CA is a test root, platform CA and PCK key that sign quotes.
type CA struct {
	root     *x509.Certificate
	chainPEM []byte // PCK leaf, platform CA, root
	pckKey   *ecdsa.PrivateKey
}

// The subject names go-tdx-guest requires of the three certificates.
const (
	rootCN         = "Intel SGX Root CA"
	intermediateCN = "Intel SGX PCK Platform CA"
	pckCN          = "Intel SGX PCK Certificate"
)

// oidSGXExtension carries FMSPC, PCEID and the TCB in a PCK certificate.
var oidSGXExtension = []int{1, 2, 840, 113741, 1, 13, 1}

// NewCA creates a test CA whose certificates are valid from an hour ago for
// a day.
func NewCA() (*CA, error) {
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pckKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := func(serial int64, cn string, ca bool) *x509.Certificate {
		t := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"OutLayer test CA (not Intel)"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			SignatureAlgorithm:    x509.ECDSAWithSHA256,
			BasicConstraintsValid: true,
			IsCA:                  ca,
		}
		if ca {
			t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		} else {
			t.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		}
		return t
	}
	rootT := tmpl(1, rootCN, true)
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("test root CA: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	interDER, err := x509.CreateCertificate(rand.Reader, tmpl(2, intermediateCN, true), root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("test platform CA: %w", err)
	}
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		return nil, err
	}
	// The PCK certificate needs exactly six extensions, one of them
	// Intel's SGX extension (FMSPC, PCEID, TCB): borrow that one from the
	// sample quote's real PCK certificate.
	sgxExt, err := sampleSGXExtension()
	if err != nil {
		return nil, err
	}
	pckT := tmpl(3, pckCN, false)
	pckT.SubjectKeyId = []byte("outlayer-test-pck")
	pckT.CRLDistributionPoints = []string{"https://pck-crl.invalid/outlayer-test"}
	pckT.ExtraExtensions = []pkix.Extension{sgxExt}
	pckDER, err := x509.CreateCertificate(rand.Reader, pckT, inter, &pckKey.PublicKey, interKey)
	if err != nil {
		return nil, fmt.Errorf("test PCK certificate: %w", err)
	}
	var chain []byte
	for _, der := range [][]byte{pckDER, interDER, rootDER} {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return &CA{root: root, chainPEM: chain, pckKey: pckKey}, nil
}

// Roots is the pool to put in VerifierConfig.TrustedRoots.
func (ca *CA) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

func sampleQuote() (*pb.QuoteV4, error) {
	q, err := abi.QuoteToProto(testdata.RawQuote)
	if err != nil {
		return nil, err
	}
	v4, ok := q.(*pb.QuoteV4)
	if !ok {
		return nil, errors.New("the sample quote is not a v4 quote")
	}
	return v4, nil
}

func sampleSGXExtension() (pkix.Extension, error) {
	q, err := sampleQuote()
	if err != nil {
		return pkix.Extension{}, err
	}
	block, _ := pem.Decode(q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain())
	if block == nil {
		return pkix.Extension{}, errors.New("the sample quote has no PCK certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return pkix.Extension{}, err
	}
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidSGXExtension) {
			return e, nil
		}
	}
	return pkix.Extension{}, errors.New("the sample PCK certificate has no SGX extension")
}

// TD describes the trust domain a quote claims to come from.
type TD struct {
	Measurements attest.Measurements
	Debug        bool
}

// Quote makes a quote from td over rd, signed through the test chain.
func (ca *CA) Quote(td TD, rd attest.ReportData) ([]byte, error) {
	q, err := sampleQuote()
	if err != nil {
		return nil, err
	}
	q = proto.Clone(q).(*pb.QuoteV4)
	body := q.GetTdQuoteBody()
	body.ReportData = append([]byte(nil), rd[:]...)
	body.MrTd = append([]byte(nil), td.Measurements.MRTD[:]...)
	body.Rtmrs = make([][]byte, 4)
	for i := range body.Rtmrs {
		body.Rtmrs[i] = append([]byte(nil), td.Measurements.RTMR[i][:]...)
	}
	attrs := append([]byte(nil), body.GetTdAttributes()...)
	if td.Debug {
		attrs[0] |= 1
	} else {
		attrs[0] &^= 1
	}
	body.TdAttributes = attrs

	// A fresh attestation key signs header and body.
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	akPub, err := ak.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	akRaw := akPub[1:]
	hdr, err := abi.HeaderToAbiBytes(q.GetHeader())
	if err != nil {
		return nil, err
	}
	bodyBytes, err := abi.TdQuoteBodyToAbiBytes(body)
	if err != nil {
		return nil, err
	}
	sig, err := rawSign(ak, append(hdr, bodyBytes...))
	if err != nil {
		return nil, err
	}
	sd := q.GetSignedData()
	sd.EcdsaAttestationKey = akRaw
	sd.Signature = sig

	// The QE report binds the attestation key; the PCK key signs it.
	qe := sd.GetCertificationData().GetQeReportCertificationData()
	binding := sha256.Sum256(append(append([]byte(nil), akRaw...), qe.GetQeAuthData().GetData()...))
	qe.GetQeReport().ReportData = append(binding[:], make([]byte, 32)...)
	qeBytes, err := abi.EnclaveReportToAbiBytes(qe.GetQeReport())
	if err != nil {
		return nil, err
	}
	if qe.QeReportSignature, err = rawSign(ca.pckKey, qeBytes); err != nil {
		return nil, err
	}
	chain := qe.GetPckCertificateChainData()
	chain.PckCertChain = append([]byte(nil), ca.chainPEM...)
	chain.Size = uint32(len(ca.chainPEM))
	// Sizes of the enclosing structures: QE report (384), its signature
	// (64), the auth data (2 + n), the chain header (6) and chain.
	certSize := 384 + 64 + 2 + uint32(len(qe.GetQeAuthData().GetData())) + 6 + chain.Size
	sd.GetCertificationData().Size = certSize
	q.SignedDataSize = 64 + 64 + 6 + certSize
	q.ExtraBytes = nil
	return abi.QuoteToAbiBytes(q)
}

// rawSign signs sha256(msg) and returns r||s, 32 bytes each, as quotes
// carry ECDSA signatures.
func rawSign(k *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// Attester is an attest.Attester that quotes as td through ca: a TD on a
// test platform.
type Attester struct {
	CA *CA
	TD TD
}

// Kind is TDX: these are real quotes, only their root is not Intel's.
func (Attester) Kind() attest.Kind { return attest.KindTDX }

// Quote makes a quote over rd.
func (a Attester) Quote(ctx context.Context, rd attest.ReportData) (attest.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return attest.Evidence{}, err
	}
	q, err := a.CA.Quote(a.TD, rd)
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{Kind: attest.KindTDX, Quote: q}, nil
}
