package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/exec/build"
)

// nodeFlags are shared by run and join; every flag also reads an
// OUTLAYER_* environment variable.
func nodeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", Usage: "node state: key, Raft log, replica, caches", Value: "outlayer-data", EnvVars: []string{"OUTLAYER_DATA_DIR"}},
		&cli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr", Value: cli.NewStringSlice("/ip4/0.0.0.0/tcp/4001"), EnvVars: []string{"OUTLAYER_LISTEN"}},
		&cli.StringSliceFlag{Name: "bootstrap", Usage: "cluster member to join through: HOST:PORT, or its multiaddr (ending in /p2p/<id> to name the peer exactly)", EnvVars: []string{"OUTLAYER_BOOTSTRAP"}},
		&cli.StringFlag{Name: "cluster", Usage: "the cluster's `NAME` on the LAN: members answer mDNS queries for it and find moved members there; `join --cluster NAME` needs no address", EnvVars: []string{"OUTLAYER_CLUSTER"}},
		&cli.StringFlag{Name: "mdns", Usage: "LAN discovery: auto (on in --dev and when every listen address is private, off on a public one), on or off", Value: "auto", EnvVars: []string{"OUTLAYER_MDNS"}},
		&cli.StringFlag{Name: "http-addr", Usage: "JSON API and /metrics address", Value: "127.0.0.1:8080", EnvVars: []string{"OUTLAYER_HTTP_ADDR"}},
		&cli.StringSliceFlag{Name: "api-host", Usage: "a DNS name the HTTP API is published under (requests must name it, an IP address or localhost as Host; this stops DNS rebinding)", EnvVars: []string{"OUTLAYER_API_HOST"}},
		&cli.StringFlag{Name: "near-rpc", Usage: "NEAR JSON-RPC URL", EnvVars: []string{"OUTLAYER_NEAR_RPC"}},
		&cli.StringFlag{Name: "contract", Usage: "OutLayer contract account", EnvVars: []string{"OUTLAYER_CONTRACT"}},
		&cli.StringFlag{Name: "operator", Usage: "operator account (the contract accepts results from it)", EnvVars: []string{"OUTLAYER_OPERATOR"}},
		&cli.StringFlag{Name: "operator-key", Usage: "this node's key file on the operator account (near-cli format)", EnvVars: []string{"OUTLAYER_OPERATOR_KEY"}},
		&cli.IntFlag{Name: "slots", Usage: "requests this node runs at once (0: one per CPU)", EnvVars: []string{"OUTLAYER_SLOTS"}},
		&cli.IntFlag{Name: "agreement", Usage: "k: distinct nodes that must return the same result before it is resolved, for requests whose contract record names none (1: one executor)", Value: 1, EnvVars: []string{"OUTLAYER_AGREEMENT"}},
		&cli.IntFlag{Name: "dissent-limit", Usage: "a node outvoted this many times in a row is no longer assigned requests", Value: 3, EnvVars: []string{"OUTLAYER_DISSENT_LIMIT"}},
		&cli.Uint64Flag{Name: "yield-timeout", Usage: "the chain's yield timeout in blocks", Value: 200, EnvVars: []string{"OUTLAYER_YIELD_TIMEOUT"}},
		&cli.Uint64Flag{Name: "yield-margin", Usage: "give up on a request this many blocks before its yield timeout", Value: 20, EnvVars: []string{"OUTLAYER_YIELD_MARGIN"}},
		&cli.DurationFlag{Name: "poll-interval", Usage: "how often the leader asks the chain for new requests (a poll at an unchanged final block costs one `block` call)", Value: 100 * time.Millisecond, EnvVars: []string{"OUTLAYER_POLL_INTERVAL"}},
		&cli.DurationFlag{Name: "retention", Usage: "how long a settled request (resolved or expired on chain) is kept, with its result, run record and call; 0 keeps them forever", Value: daemon.DefaultRetention, EnvVars: []string{"OUTLAYER_RETENTION"}},
		&cli.IntFlag{Name: "retain-settled", Usage: "keep at most this many settled requests (the oldest past it go, whatever their age); 0: no cap", EnvVars: []string{"OUTLAYER_RETAIN_SETTLED"}},
		&cli.Uint64Flag{Name: "storage-budget", Usage: "bytes all programs may store together on this cluster (a run whose writes pass it fails); 0: a quarter of the data directory's disk", EnvVars: []string{"OUTLAYER_STORAGE_BUDGET"}},
		&cli.DurationFlag{Name: "build-timeout", Usage: "wall-clock budget of one source build", Value: 5 * time.Minute, EnvVars: []string{"OUTLAYER_BUILD_TIMEOUT"}},
		&cli.StringFlag{Name: "go-proxy", Usage: "GOPROXY for builds' module downloads", EnvVars: []string{"OUTLAYER_GO_PROXY"}},
		&cli.StringFlag{Name: "policy", Usage: "measurement policy JSON (MRTD and RTMR allow-lists of the builds allowed to join); required outside --dev", EnvVars: []string{"OUTLAYER_POLICY"}},
		&cli.StringFlag{Name: "collateral", Usage: "directory with Intel PCS collateral (tcb_info.json, qe_identity.json, CRLs) to check joiners' TCB; without it the TCB is not checked", EnvVars: []string{"OUTLAYER_COLLATERAL"}},
		&cli.StringFlag{Name: "dev-join-secret", Usage: "with --dev: a secret (16+ characters) every node of the dev cluster is started with; dev joins require it, and with it the node may listen beyond loopback (without it a --dev node runs alone on 127.0.0.1)", EnvVars: []string{"OUTLAYER_DEV_JOIN_SECRET"}},
		&cli.BoolFlag{Name: "dev", Usage: "development mode: simulated attestation, local git repositories, keystore sealed with a key file in the data directory", EnvVars: []string{"OUTLAYER_DEV"}},
		&cli.BoolFlag{Name: "keystore-memory-only", Usage: "keep the keystore's master secret in memory only, never on disk: a restarted node receives it from a member, and it is lost if every node restarts at once (the default outside --dev, since TDX has no sealing key)", EnvVars: []string{"OUTLAYER_KEYSTORE_MEMORY_ONLY"}},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", EnvVars: []string{"OUTLAYER_LOG_LEVEL"}},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "start (or restart) a node; a fresh data directory bootstraps a new cluster unless --bootstrap names members",
		Description: "A node watches the OutLayer contract (while it leads), runs the requests assigned to it,\n" +
			"and serves the JSON API (/health /status /requests /history /stats /pricing /metrics).\n" +
			"Restarting with the same --data-dir rejoins the cluster. Stop with Ctrl-C: running\n" +
			"requests get 30 s to finish and leadership is handed over.",
		Flags:  nodeFlags(),
		Action: func(c *cli.Context) error { return runNode(c, c.StringSlice("bootstrap")) },
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "start a node that joins an existing cluster through any member",
		ArgsUsage: "[MEMBER...]",
		Description: "A member is named by its multiaddr (/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...), by HOST:PORT\n" +
			"(10.0.0.1:4001: the peer id is learned from its handshake and logged for you to check), or,\n" +
			"with no address, by --cluster NAME: the members on this LAN that answer for NAME (mDNS).\n" +
			"Whichever way, the node still passes the join handshake and its attestation.",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			members := append(c.Args().Slice(), c.StringSlice("bootstrap")...)
			if len(members) == 0 && c.String("cluster") == "" {
				return usageError("join needs a member: its multiaddr (/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...), its HOST:PORT, or --cluster NAME to find one on the LAN")
			}
			return runNode(c, members)
		},
	}
}

func nodeConfig(c *cli.Context, join []string, logger *slog.Logger) daemon.Config {
	dataDir := c.String("data-dir")
	abs, err := filepath.Abs(dataDir)
	if err == nil {
		dataDir = abs
	}
	return daemon.Config{
		DataDir:            dataDir,
		ListenAddrs:        listenAddrs(c),
		DevJoinSecret:      []byte(c.String("dev-join-secret")),
		Join:               join,
		Cluster:            c.String("cluster"),
		MDNS:               c.String("mdns"),
		JoinLAN:            c.Command.Name == "join" && len(join) == 0,
		HTTPAddr:           c.String("http-addr"),
		APIHosts:           c.StringSlice("api-host"),
		RPCURL:             c.String("near-rpc"),
		ContractID:         c.String("contract"),
		OperatorAccount:    c.String("operator"),
		OperatorKeyFile:    c.String("operator-key"),
		Slots:              c.Int("slots"),
		Agreement:          c.Int("agreement"),
		DissentLimit:       c.Int("dissent-limit"),
		YieldTimeoutBlocks: c.Uint64("yield-timeout"),
		YieldMarginBlocks:  c.Uint64("yield-margin"),
		PollInterval:       c.Duration("poll-interval"),
		Retention:          c.Duration("retention"),
		RetainSettled:      c.Int("retain-settled"),
		StorageBudget:      c.Uint64("storage-budget"),
		DevMode:            c.Bool("dev"),
		KeystoreMemoryOnly: c.Bool("keystore-memory-only"),
		Build: build.Config{
			GoProxy:         c.String("go-proxy"),
			AllowLocalRepos: c.Bool("dev"),
			Limits:          build.Limits{Timeout: c.Duration("build-timeout")},
		},
		Logger: logger,
	}
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runNode(c *cli.Context, join []string) error {
	logger, err := newLogger(c.String("log-level"), os.Stderr)
	if err != nil {
		return usageError("%v", err)
	}
	cfg := nodeConfig(c, join, logger)
	if err := cfg.Validate(); err != nil {
		return usageError("%v", err)
	}
	if err := productionAttestation(c, &cfg, logger); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := daemon.Start(ctx, cfg)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	fmt.Fprintf(c.App.Writer, "outlayerd node %s\n  join through: %v\n  HTTP API:     http://%s\n", n.PeerID(), n.P2PAddrs(), n.HTTPAddr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Stop(sctx); err != nil {
		return cli.Exit(fmt.Sprintf("stopping: %v", err), exitFailure)
	}
	return nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the cluster as a node sees it (this node's health with the reasons it is degraded, members, roles, leader, attestation, request counts)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "node", Usage: "a node's HTTP API address", Value: "127.0.0.1:8080", EnvVars: []string{"OUTLAYER_NODE"}},
			&cli.BoolFlag{Name: "json", Usage: "print the raw JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("status takes no arguments")
			}
			base := "http://" + c.String("node")
			var st daemon.Status
			if err := fetchJSON(c.Context, base+"/status", &st); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			var stats map[string]any
			if err := fetchJSON(c.Context, base+"/stats", &stats); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			w := c.App.Writer
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"status": st, "stats": stats})
			}
			fmt.Fprintf(w, "health: %s\n", st.Health.Status)
			for _, r := range st.Health.Reasons {
				fmt.Fprintf(w, "  %s: %s\n", r.Check, r.Message)
			}
			fmt.Fprintf(w, "contract %s, operator %s\nleader   %s\nattestation: %s\nresults:     %s\nLAN discovery: %s\n", st.Contract, st.Operator, st.Leader, st.Attestation, st.ResultAttestation, st.LANDiscovery)
			for _, nd := range st.Nodes {
				mark := " "
				if nd.Leader {
					mark = "*"
				}
				// Reachability is this node's own libp2p view: followers
				// need no link to each other, so ask the leader for the
				// cluster-wide picture.
				reach := "connected"
				if !nd.Reachable {
					reach = "no-link"
				}
				fmt.Fprintf(w, "%s %s  %-8s %-11s running %d  %s\n", mark, nd.PeerID, nd.Role, reach, nd.Running, nd.Attestation)
				found := nd.Found
				if nd.Updated != "" && nd.Updated != nd.Found {
					found += ", addresses now from " + nd.Updated
				}
				fmt.Fprintf(w, "    found by %s  at %s\n", found, strings.Join(nd.Addresses, " "))
			}
			if st.ChainCursor != nil {
				fmt.Fprintf(w, "chain cursor: block %d\n", st.ChainCursor.Height)
			}
			if ek := st.ExecutorKeys; ek.Leading {
				// Only the leader keeps the contract's executor keys.
				fmt.Fprintf(w, "executor keys: %d registered on the contract, %d changes pending\n", ek.Registered, len(ek.Pending))
				for _, p := range ek.Pending {
					fmt.Fprintf(w, "  pending: %s\n", p)
				}
				for _, line := range []struct{ what, v string }{{"waiting", ek.Note}, {"last change", ek.LastChange}, {"failing", ek.Error}} {
					if line.v != "" {
						fmt.Fprintf(w, "  %s: %s\n", line.what, line.v)
					}
				}
			}
			fmt.Fprintf(w, "requests: %v %v\n", stats["requests"], stats["by_status"])
			budget := "no budget"
			if sg := st.Storage; sg.BudgetBytes > 0 {
				budget = fmt.Sprintf("budget %d (%.1f%% used)", sg.BudgetBytes, 100*float64(sg.ProgramBytes)/float64(sg.BudgetBytes))
			}
			fmt.Fprintf(w, "storage: programs store %d bytes, %s; settled requests kept %s, %d pruned\n",
				st.Storage.ProgramBytes, budget, st.Storage.Retention, st.Storage.PrunedRequests)
			return nil
		},
	}
}

func fetchJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the node: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

// productionAttestation sets up TDX attestation and the join verifier for a
// node outside dev mode: --policy is required, --collateral optional, and a
// machine that is not a TDX guest is refused here, before anything starts.
func productionAttestation(c *cli.Context, cfg *daemon.Config, logger *slog.Logger) error {
	if secret := c.String("dev-join-secret"); secret != "" && (!cfg.DevMode || len(secret) < 16) {
		return usageError("--dev-join-secret is for --dev clusters and must be at least 16 characters")
	}
	if cfg.DevMode {
		if len(cfg.DevJoinSecret) == 0 && (len(cfg.Join) > 0 || cfg.JoinLAN) {
			return usageError("dev joins require a join secret: start every node of a dev cluster with the same --dev-join-secret (16+ characters; simulated attestation proves nothing about a node)")
		}
		if c.String("policy") != "" || c.String("collateral") != "" {
			return usageError("--policy and --collateral are for production nodes; --dev uses simulated attestation, which checks no measurement")
		}
		return nil
	}
	if c.String("policy") == "" {
		return usageError("--policy FILE is required outside --dev: the measurement policy lists the TDX builds allowed to join (see README \"Running a node\"); use --dev for a local development cluster")
	}
	prod, err := attest.NewProduction(attest.ProductionConfig{PolicyFile: c.String("policy"), CollateralDir: c.String("collateral")})
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	for _, w := range prod.Warnings {
		logger.Warn(w)
	}
	logger.Info("production attestation", "tdx", prod.Via, "policy", c.String("policy"), "collateral", c.String("collateral"))
	cfg.Verifier, cfg.Attester, cfg.ResultAttester = prod.Join, prod.JoinAttester, prod.Attester
	return nil
}

// listenAddrs is --listen; a --dev node without a join secret that was not
// given --listen listens on loopback (dev mode refuses anything else).
func listenAddrs(c *cli.Context) []string {
	if c.Bool("dev") && c.String("dev-join-secret") == "" && !c.IsSet("listen") {
		return []string{"/ip4/127.0.0.1/tcp/4001"}
	}
	return c.StringSlice("listen")
}
