package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-tdx-guest/pcs"
)

// Collateral is Intel's signed reference data for TCB evaluation, supplied
// by the operator (nodes never fetch it: no network in verification). It
// is read from a directory holding the Intel PCS v4 responses:
//
//	tcb_info.json                 body of /tdx/certification/v4/tcb?fmspc=… (or tcb_info_<fmspc>.json, several allowed)
//	tcb_info_issuer_chain.pem     the TCB-Info-Issuer-Chain header, as PEM
//	qe_identity.json              body of /tdx/certification/v4/qe/identity
//	qe_identity_issuer_chain.pem  the SGX-Enclave-Identity-Issuer-Chain header, as PEM
//
// and, to check revocation too (all three or none):
//
//	pck_crl_platform.der / pck_crl_processor.der  body of /sgx/certification/v4/pckcrl?ca=…&encoding=der
//	pck_crl_issuer_chain.pem      the SGX-PCK-CRL-Issuer-Chain header, as PEM
//	root_ca_crl.der               https://certificates.trustedservices.intel.com/IntelSGXRootCA.der
//
// Every piece is verified against the Intel root before use; a file that
// was tampered with makes verification fail, it is never trusted as is.
type Collateral struct {
	responses   map[string]response
	revocations bool
}

type response struct {
	header map[string][]string
	body   []byte
}

const intelCertificatesHost = "https://certificates.trustedservices.intel.com/"

// LoadCollateral reads a collateral directory.
func LoadCollateral(dir string) (*Collateral, error) {
	c := &Collateral{responses: map[string]response{}}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("collateral %s: %w", dir, err)
		}
		return b, nil
	}
	chainHeader := func(file, header string) (map[string][]string, error) {
		pem, err := read(file)
		if err != nil {
			return nil, err
		}
		// go-tdx-guest expects the issuer chain URL-encoded, as PCS sends it.
		return map[string][]string{header: {url.QueryEscape(string(pem))}}, nil
	}

	tcbHeader, err := chainHeader("tcb_info_issuer_chain.pem", "Tcb-Info-Issuer-Chain")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("collateral: %w", err)
	}
	tcbInfos := 0
	for _, e := range entries {
		n := e.Name()
		if n != "tcb_info.json" && !(strings.HasPrefix(n, "tcb_info_") && strings.HasSuffix(n, ".json")) {
			continue
		}
		body, err := read(n)
		if err != nil {
			return nil, err
		}
		var probe struct {
			TcbInfo struct {
				Fmspc string `json:"fmspc"`
			} `json:"tcbInfo"`
		}
		if err := json.Unmarshal(body, &probe); err != nil || probe.TcbInfo.Fmspc == "" {
			return nil, fmt.Errorf("collateral %s: not a PCS TDX TCB info response (no tcbInfo.fmspc)", n)
		}
		c.responses[pcs.TcbInfoURL(strings.ToLower(probe.TcbInfo.Fmspc))] = response{header: tcbHeader, body: body}
		tcbInfos++
	}
	if tcbInfos == 0 {
		return nil, fmt.Errorf("collateral %s: no tcb_info.json", dir)
	}

	qeHeader, err := chainHeader("qe_identity_issuer_chain.pem", "Sgx-Enclave-Identity-Issuer-Chain")
	if err != nil {
		return nil, err
	}
	qeBody, err := read("qe_identity.json")
	if err != nil {
		return nil, err
	}
	c.responses[pcs.QeIdentityURL()] = response{header: qeHeader, body: qeBody}

	rootCRL, err := read("root_ca_crl.der")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil // no revocation data: signatures and TCB only
	case err != nil:
		return nil, err
	}
	crlHeader, err := chainHeader("pck_crl_issuer_chain.pem", "Sgx-Pck-Crl-Issuer-Chain")
	if err != nil {
		return nil, fmt.Errorf("%w (root_ca_crl.der is present, so revocation data must be complete)", err)
	}
	c.responses[intelCertificatesHost+"IntelSGXRootCA.der"] = response{body: rootCRL}
	found := false
	for _, ca := range []string{"platform", "processor"} {
		body, err := read("pck_crl_" + ca + ".der")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.responses[pcs.PckCrlURL(ca)] = response{header: crlHeader, body: body}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("collateral %s: root_ca_crl.der is present but no pck_crl_platform.der or pck_crl_processor.der", dir)
	}
	c.revocations = true
	return c, nil
}

// Get serves go-tdx-guest's collateral requests from the directory; any
// other URL is an error, never a network request.
func (c *Collateral) Get(u string) (map[string][]string, []byte, error) {
	r, ok := c.responses[u]
	if !ok && strings.HasPrefix(u, intelCertificatesHost) {
		r, ok = c.responses[intelCertificatesHost+"IntelSGXRootCA.der"]
	}
	if !ok {
		return nil, nil, fmt.Errorf("collateral for %s is not in the collateral directory (verification never uses the network)", u)
	}
	return r.header, r.body, nil
}
