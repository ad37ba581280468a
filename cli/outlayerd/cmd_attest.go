package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

func attestCommand() *cli.Command {
	bindFlags := []cli.Flag{
		&cli.StringFlag{Name: "report-data", Usage: "the 64 bytes of report data, as 128 hex characters"},
		&cli.StringFlag{Name: "key-file", Usage: "bind this node public key instead (raw 32 bytes, hex, base64, or a libp2p key file)"},
		&cli.StringFlag{Name: "nonce", Usage: "with --key-file: the verifier's nonce, in hex"},
	}
	return &cli.Command{
		Name:  "attest",
		Usage: "produce and check node attestations (Intel TDX quotes, or simulated ones for development)",
		Subcommands: []*cli.Command{
			{
				Name:  "quote",
				Usage: "produce evidence over report data (a TDX quote on a TDX guest, or --simulated)",
				Description: `Writes evidence JSON (to -o or stdout). The report data is given directly
(--report-data) or bound to a node key and nonce (--key-file, --nonce) the way a
joining node does. Without --simulated this needs an Intel TDX guest.`,
				Flags: append(append([]cli.Flag{}, bindFlags...),
					&cli.BoolFlag{Name: "simulated", Usage: "make simulated evidence signed by a dev key (development only)"},
					&cli.StringFlag{Name: "dev-key", Usage: "with --simulated: ed25519 dev key file (hex or raw 32-byte seed / 64-byte key); default: a throwaway key"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the evidence here instead of stdout"},
				),
				Action: runAttestQuote,
			},
			{
				Name:      "verify",
				Usage:     "check evidence (a JSON evidence file or a raw TDX quote)",
				ArgsUsage: "FILE",
				Description: `Verifies the quote's signature chain to Intel's root offline, the TCB
status when --collateral is given, the measurements against --policy, and the
report data when --report-data or --key-file/--nonce is given. Exit status 1 when
the evidence is refused. TDX evidence needs --policy (or, to look at a quote by
hand, --insecure-accept-any-measurement); a debug TD needs a policy that allows
it; without --collateral the verdict says the TCB was not checked. Simulated
evidence is accepted only with --dev.`,
				Flags: append(append([]cli.Flag{}, bindFlags...),
					policyFlag(), collateralFlag(), anyMeasurementFlag(),
					&cli.BoolFlag{Name: "dev", Usage: "accept simulated evidence (development clusters)"},
					&cli.StringFlag{Name: "dev-key", Usage: "with --dev: accept only this dev public key (hex)"},
					&cli.TimestampFlag{Name: "at", Layout: time.RFC3339, Usage: "verify as of this time (RFC 3339), e.g. for old sample quotes"},
					&cli.BoolFlag{Name: "json", Usage: "print the verified report as JSON"},
				),
				Action: runAttestVerify,
			},
			{
				Name:      "verify-result",
				Usage:     "check that a request's result is attested: this program, this input, this output",
				ArgsUsage: "REQUEST_ID",
				Description: `Fetches the request from a node's API, recomputes the result claim (the one
its executors sign and the contract checks) from the deployment — chain id and
contract: with --near-rpc and --contract the contract's own (get_agreement),
otherwise the node's /status, said in a warning — and the request id, data id,
sender, the sha256 of its input, the WASM hash, the success flag, the hash of
the output (of the error text for a failure), the instruction count and the
secrets identity, and verifies the result's evidence against it: the TDX quote to Intel's root (TCB
with --collateral, measurements with --policy, which TDX evidence needs), or
with --dev a simulated
report, which must be signed by the key of the node that reported the result.
With --near-rpc and --contract, the request's input data, sender and code
source are also compared with the OutLayer contract's get_request view, so a
node cannot pass off a result for an input the chain never asked for; a
settled request is no longer in the contract's state, and then only the node's
copy can be checked (said in the output). Exit status 1 when the result is not
attested, does not verify, or the node's request differs from the chain's.

Once the request is resolved, --near-rpc and --contract also check its
resolve transaction: the claim is recomputed from the transaction's own
arguments and the contract's chain id and must be the one the contract logged
(result_signed); every executor signature must verify and be by a key the
contract lists (list_executor_keys), at least as many as the request required;
and behind each key, the result its node reported must carry evidence that
verifies (as above). Exit status 1 when any of that fails.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "node", Usage: "a node's HTTP API (URL or host:port)", Value: "127.0.0.1:8080", EnvVars: []string{"OUTLAYER_NODE"}},
					policyFlag(), collateralFlag(), anyMeasurementFlag(),
					&cli.BoolFlag{Name: "dev", Usage: "accept simulated attestation (development clusters; proves nothing)"},
					&cli.StringFlag{Name: "near-rpc", Usage: "with --contract: a NEAR JSON-RPC URL to cross-check the request against the chain", EnvVars: []string{"NEAR_RPC"}},
					&cli.StringFlag{Name: "contract", Usage: "with --near-rpc: the OutLayer contract account"},
					&cli.BoolFlag{Name: "json", Usage: "print the verdict as JSON"},
				},
				Action: runAttestVerifyResult,
			},
		},
	}
}

// reportDataFromFlags reads --report-data or --key-file/--nonce; ok is
// false when neither was given.
func reportDataFromFlags(c *cli.Context) (rd attest.ReportData, ok bool, err error) {
	direct, keyFile := c.String("report-data"), c.String("key-file")
	switch {
	case direct != "" && keyFile != "":
		return rd, false, usageError("give --report-data or --key-file, not both")
	case direct != "":
		b, err := hex.DecodeString(strings.TrimPrefix(direct, "0x"))
		if err != nil || len(b) != len(rd) {
			return rd, false, usageError("--report-data must be 128 hex characters (64 bytes)")
		}
		copy(rd[:], b)
		return rd, true, nil
	case keyFile != "":
		pub, err := readNodePublicKey(keyFile)
		if err != nil {
			return rd, false, usageError("--key-file: %v", err)
		}
		nonce, err := hex.DecodeString(c.String("nonce"))
		if err != nil {
			return rd, false, usageError("--nonce must be hex")
		}
		return attest.NodeKeyReportData(pub, nonce), true, nil
	case c.String("nonce") != "":
		return rd, false, usageError("--nonce needs --key-file")
	}
	return rd, false, nil
}

// readNodePublicKey accepts a node key in the forms an operator is likely
// to have: a libp2p key file (private or public), or the raw ed25519
// public key as bytes, hex or base64.
func readNodePublicKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if priv, err := crypto.UnmarshalPrivateKey(data); err == nil {
		return priv.GetPublic().Raw()
	}
	if pub, err := crypto.UnmarshalPublicKey(data); err == nil {
		return pub.Raw()
	}
	if len(data) == ed25519.PublicKeySize {
		return data, nil
	}
	text := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(text); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	return nil, errors.New("not a libp2p key file nor a 32-byte ed25519 public key (raw, hex or base64)")
}

func readDevKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, err := hex.DecodeString(strings.TrimSpace(string(data))); err == nil {
		data = b
	}
	switch len(data) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(data), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(data), nil
	}
	return nil, fmt.Errorf("%s: a dev key is a 32-byte ed25519 seed or a 64-byte private key (raw or hex)", path)
}

func runAttestQuote(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("attest quote takes no arguments (got %q)", c.Args().First())
	}
	rd, ok, err := reportDataFromFlags(c)
	if err != nil {
		return err
	}
	if !ok {
		return usageError("attest quote needs --report-data HEX, or --key-file FILE [--nonce HEX]")
	}

	var a attest.Attester
	if c.Bool("simulated") {
		var key ed25519.PrivateKey
		if p := c.String("dev-key"); p != "" {
			if key, err = readDevKey(p); err != nil {
				return usageError("--dev-key: %v", err)
			}
		} else {
			_, key, _ = ed25519.GenerateKey(nil)
			fmt.Fprintf(c.App.ErrWriter, "using a throwaway dev key %x\n", key.Public())
		}
		if a, err = attest.NewSimulated(key, attest.Measurements{}); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
	} else {
		if c.String("dev-key") != "" {
			return usageError("--dev-key only makes sense with --simulated")
		}
		if a, err = attest.NewTDX(attest.TDXConfig{}); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
	}

	ev, err := a.Quote(c.Context, rd)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	out = append(out, '\n')
	if p := c.String("output"); p != "" {
		if err := renameio.WriteFile(p, out, 0o644); err != nil {
			return cli.Exit(fmt.Sprintf("writing %s: %v", p, err), exitFailure)
		}
	} else if _, err := c.App.Writer.Write(out); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if ev.Kind == attest.KindSimulated {
		fmt.Fprintln(c.App.ErrWriter, attest.SimulatedNotice)
	}
	return nil
}

func runAttestVerify(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("attest verify needs exactly one FILE (evidence JSON or a raw TDX quote)")
	}
	expected, bind, err := reportDataFromFlags(c)
	if err != nil {
		return err
	}
	cfg, err := verifierConfig(c)
	if err != nil {
		return err
	}
	if k := c.String("dev-key"); k != "" {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return usageError("--dev-key must be an ed25519 public key in hex (64 characters)")
		}
		cfg.DevKeys = []ed25519.PublicKey{b}
	}
	if ts := c.Timestamp("at"); ts != nil {
		t := *ts
		cfg.Now = func() time.Time { return t }
	}

	data, err := os.ReadFile(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	ev, err := attest.ParseEvidence(data)
	if err != nil {
		return cli.Exit(fmt.Sprintf("refused: %v", err), exitFailure)
	}
	v := attest.NewVerifier(cfg)
	var r attest.Report
	if bind {
		r, err = v.Verify(c.Context, ev, expected)
	} else {
		r, err = v.Inspect(c.Context, ev)
	}
	if errors.Is(err, attest.ErrNoPolicy) {
		return cli.Exit(fmt.Sprintf("refused: %v (give --policy FILE with the measurements you trust, or --insecure-accept-any-measurement to look at the quote anyway)", err), exitFailure)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("refused: %v", err), exitFailure)
	}

	if c.Bool("json") {
		var obj map[string]any
		raw, err := json.Marshal(r)
		if err == nil {
			err = json.Unmarshal(raw, &obj)
		}
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		obj["report_data_checked"] = bind
		out, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		fmt.Fprint(c.App.Writer, r.String())
		if bind {
			fmt.Fprintln(c.App.Writer, "binding:     report data matches")
		} else {
			fmt.Fprintln(c.App.Writer, "binding:     report data NOT checked (give --report-data or --key-file/--nonce)")
		}
	}
	return nil
}

// resultVerdict is verify-result's JSON output.
type resultVerdict struct {
	RequestID uint64             `json:"request_id"`
	Verified  bool               `json:"verified"`
	Node      string             `json:"node"`
	Claim     attest.ResultClaim `json:"claim"`
	Report    attest.Report      `json:"report"`
	Notice    string             `json:"notice,omitempty"`
	// Chain is the cross-check with the contract: "matched", "settled"
	// (only the node's copy could be checked), or absent when not asked.
	Chain       string `json:"chain,omitempty"`
	ChainNotice string `json:"chain_notice,omitempty"`
	// DeploymentNotice says the chain id and contract the claim binds
	// were the node's word (no --near-rpc and --contract).
	DeploymentNotice string `json:"deployment_notice,omitempty"`
	// Signatures is the check of the resolve's executor signatures and
	// the attestations behind them (with --near-rpc and --contract, once
	// the request is resolved).
	Signatures *signatureVerdict `json:"signatures,omitempty"`
}

func runAttestVerifyResult(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("attest verify-result needs exactly one REQUEST_ID")
	}
	id, err := strconv.ParseUint(c.Args().First(), 10, 64)
	if err != nil {
		return usageError("REQUEST_ID %q is not a request number", c.Args().First())
	}
	cfg, err := verifierConfig(c)
	if err != nil {
		return err
	}
	rpcURL, contract := c.String("near-rpc"), c.String("contract")
	if (rpcURL == "") != (contract == "") {
		return usageError("--near-rpc and --contract go together: the chain cross-check needs both")
	}
	base := nodeURL(c.String("node"))

	// Only the stored request and result are taken from the node; the
	// claim is recomputed here, never read from the node's view of it.
	var job store.Job
	if err := fetchJSON(c.Context, fmt.Sprintf("%s/requests/%d?consistent=1", base, id), &job); err != nil {
		return cli.Exit(fmt.Sprintf("fetching request %d: %v", id, err), exitFailure)
	}
	refuse := func(format string, args ...any) error {
		return cli.Exit(fmt.Sprintf("NOT VERIFIED: request %d: ", id)+fmt.Sprintf(format, args...), exitFailure)
	}
	switch {
	case job.ID != id:
		return refuse("the node answered with request %d", job.ID)
	}
	var onChain chainCheck
	if rpcURL != "" {
		onChain, err = checkRequestOnChain(c.Context, rpcURL, contract, &job)
		var mismatch *chainMismatchError
		switch {
		case errors.As(err, &mismatch):
			return refuse("%v", err)
		case err != nil:
			return cli.Exit(fmt.Sprintf("cross-checking request %d with the chain: %v", id, err), exitFailure)
		}
	}
	settledNotice := fmt.Sprintf("request %d is no longer in contract %s's state (settled requests are removed): "+
		"its input, sender and code could not be checked against the chain, only the node's copy of them", id, contract)
	switch {
	case job.Result == nil:
		return refuse("it has no result (status %s)", job.Status)
	case len(job.Result.Attestation) == 0:
		return refuse("its result carries no attestation: nothing proves where it came from")
	}
	res := job.Result
	if w := job.Code.Wasm; w != nil && res.WasmHash != "" && !strings.EqualFold(w.Hash, res.WasmHash) {
		return refuse("the result is for WASM %s, but the request asked for %s", res.WasmHash, w.Hash)
	}
	// The deployment the claim binds: the chain's own with --near-rpc
	// and --contract (evidence from another chain or contract does not
	// verify), else the node's word for it, said below.
	var chainID, bindContract, bindNotice string
	if rpcURL != "" {
		bindContract = contract
		if chainID, err = claimChainID(c.Context, near.NewClient(rpcURL), contract); err != nil {
			return cli.Exit(fmt.Sprintf("reading the chain id result claims bind: %v", err), exitFailure)
		}
	} else {
		var st daemon.Status
		if err := fetchJSON(c.Context, base+"/status", &st); err != nil {
			return cli.Exit(fmt.Sprintf("reading the node's contract and chain id: %v", err), exitFailure)
		}
		chainID, bindContract = st.ClaimChainID, st.Contract
		bindNotice = fmt.Sprintf("the deployment the result is bound to (chain %q, contract %q) is the node's own word: give --near-rpc and --contract to bind the one you mean", chainID, bindContract)
	}
	claim, err := daemon.ResultClaimFor(chainID, bindContract, &job, res)
	if err != nil {
		return refuse("%v", err)
	}
	ev, err := attest.ParseEvidence(res.Attestation)
	if err != nil {
		return refuse("%v", err)
	}
	if ev.Kind == attest.KindSimulated && cfg.DevMode {
		// A simulated report proves only who signed it: it must at least
		// be the node that reported the result.
		pub, err := nodePublicKey(res.Node)
		if err != nil {
			return refuse("the reporting node %q: %v", res.Node, err)
		}
		cfg.DevKeys = []ed25519.PublicKey{pub}
	}
	report, err := attest.VerifyResult(c.Context, attest.NewVerifier(cfg), ev, claim)
	if err != nil {
		if errors.Is(err, attest.ErrSimulatedRefused) {
			return refuse("%v (the result carries simulated attestation; give --dev to accept it for a development cluster)", err)
		}
		if errors.Is(err, attest.ErrNoPolicy) {
			return refuse("%v (give --policy FILE with the measurements you trust)", err)
		}
		return refuse("%v", err)
	}

	var sigs *signatureVerdict
	// A request the chain has settled: its resolve's signatures, and the
	// attestations behind them. (One still pending on chain has no
	// resolve, whatever the node says.)
	if onChain == chainSettled && job.ResolveTx != "" {
		var st daemon.Status
		if err := fetchJSON(c.Context, base+"/status", &st); err != nil {
			return cli.Exit(fmt.Sprintf("reading the node's operator account: %v", err), exitFailure)
		}
		sigs, err = checkResolveSignatures(c.Context, rpcURL, contract, st.Operator, &job, cfg)
		if err != nil {
			return refuse("checking the resolve's executor signatures: %v", err)
		}
		if !sigs.ok() {
			b, _ := json.MarshalIndent(sigs, "", "  ")
			return refuse("the resolve's executor signatures do not hold up:\n%s", b)
		}
		if sigs.Notice != "" {
			fmt.Fprintf(c.App.ErrWriter, "WARNING: %s\n", sigs.Notice)
		}
	}

	simulated := report.Kind == attest.KindSimulated
	if simulated {
		fmt.Fprintf(c.App.ErrWriter, "WARNING: %s\n", attest.SimulatedNotice)
	}
	if onChain == chainSettled {
		fmt.Fprintf(c.App.ErrWriter, "WARNING: %s\n", settledNotice)
	}
	if bindNotice != "" {
		fmt.Fprintf(c.App.ErrWriter, "WARNING: %s\n", bindNotice)
	}
	if c.Bool("json") {
		v := resultVerdict{RequestID: id, Verified: true, Node: res.Node, Claim: claim, Report: report, Signatures: sigs, DeploymentNotice: bindNotice}
		if simulated {
			v.Notice = attest.SimulatedNotice
		}
		switch onChain {
		case chainMatched:
			v.Chain = "matched"
		case chainSettled:
			v.Chain, v.ChainNotice = "settled", settledNotice
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		fmt.Fprintln(c.App.Writer, string(out))
		return nil
	}
	w := c.App.Writer
	if simulated {
		fmt.Fprintf(w, "VERIFIED (SIMULATED ATTESTATION, proves nothing about the node): request %d\n", id)
	} else {
		fmt.Fprintf(w, "VERIFIED: request %d's result was produced in an attested Intel TDX machine\n", id)
		for _, cv := range report.Caveats() {
			fmt.Fprintf(w, "  CAVEAT: %s\n", cv)
		}
	}
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-15s"+format+"\n", append([]any{label + ":"}, args...)...)
	}
	row("node", "%s", res.Node)
	row("deployment", "chain %s, contract %s, data id %x, sender %s", claim.ChainID, claim.Contract, claim.DataID, claim.Sender)
	row("wasm sha256", "%x", claim.WasmSHA256)
	switch onChain {
	case chainMatched:
		row("input sha256", "%x (the node's input, sender and code match contract %s's request)", claim.InputSHA256, contract)
	case chainSettled:
		row("input sha256", "%x (of the input as the node served it; the request is settled and gone from contract %s, so it could not be compared)", claim.InputSHA256, contract)
	default:
		row("input sha256", "%x (of the input as the node served it; give --near-rpc and --contract to compare it with the chain's request)", claim.InputSHA256)
	}
	if claim.Success {
		row("success", "yes")
		row("output sha256", "%x", claim.OutputSHA256)
	} else {
		row("success", "no")
		row("error sha256", "%x (%q)", claim.OutputSHA256, res.Error)
	}
	row("instructions", "%d", claim.Instructions)
	if sigs != nil {
		row("resolve", "%s carried %d signature(s) of claim %s, %d required by the contract", sigs.ResolveTx, len(sigs.Signers), sigs.ClaimHash, sigs.Required)
		for _, s := range sigs.Signers {
			row("  signed by", "%s (node %s): valid, registered, its result attested (%s)", s.Key, s.Node, s.Attestation)
		}
	}
	fmt.Fprint(w, report.String())
	return nil
}

// nodePublicKey is the raw ed25519 key embedded in a libp2p peer id.
func nodePublicKey(peerID string) (ed25519.PublicKey, error) {
	pid, err := peer.Decode(peerID)
	if err != nil {
		return nil, err
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, err
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer id %s does not embed an ed25519 key", peerID)
	}
	return raw, nil
}

func policyFlag() cli.Flag {
	return &cli.StringFlag{Name: "policy", Usage: "measurement policy JSON (MRTD and RTMR0-3 allow-lists); TDX evidence is refused without one"}
}

func collateralFlag() cli.Flag {
	return &cli.StringFlag{Name: "collateral", Usage: "directory with Intel PCS collateral (tcb_info.json, qe_identity.json, …); without it the TCB is NOT checked"}
}

func anyMeasurementFlag() cli.Flag {
	return &cli.BoolFlag{Name: "insecure-accept-any-measurement", Usage: "INSECURE: accept TDX evidence without --policy, whatever code the TD runs (to look at a quote by hand; proves nothing about the code)"}
}

// verifierConfig reads the verifier flags shared by verify and
// verify-result.
func verifierConfig(c *cli.Context) (attest.VerifierConfig, error) {
	cfg := attest.VerifierConfig{DevMode: c.Bool("dev"), AcceptAnyMeasurement: c.Bool("insecure-accept-any-measurement")}
	var err error
	if p := c.String("policy"); p != "" {
		if cfg.Policy, err = attest.LoadPolicy(p); err != nil {
			return cfg, usageError("%v", err)
		}
		if cfg.AcceptAnyMeasurement {
			return cfg, usageError("--policy and --insecure-accept-any-measurement contradict each other")
		}
	}
	if d := c.String("collateral"); d != "" {
		if cfg.Collateral, err = attest.LoadCollateral(d); err != nil {
			return cfg, usageError("%v", err)
		}
	}
	if cfg.AcceptAnyMeasurement {
		fmt.Fprintln(c.App.ErrWriter, "WARNING: --insecure-accept-any-measurement: the TD's measurements are NOT checked; a valid quote from any TD on any Intel machine passes")
	}
	return cfg, nil
}
