package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/httpguard"
)

// nodeCommand holds the operator's changes to the cluster. They go to the
// admin socket in the node's data directory, never to the public HTTP API,
// so only the node's own user can make them.
func nodeCommand() *cli.Command {
	dataDir := &cli.StringFlag{Name: "data-dir", Usage: "the running node's data directory (its admin socket is there)", Value: "outlayer-data", EnvVars: []string{"OUTLAYER_DATA_DIR"}}
	return &cli.Command{
		Name:  "node",
		Usage: "change the cluster through a running node's admin socket (remove a member, leave)",
		Subcommands: []*cli.Command{
			{
				Name:      "remove",
				Usage:     "take a member out of the cluster",
				ArgsUsage: "PEER-ID",
				Flags:     []cli.Flag{dataDir},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError("node remove needs one peer id (see outlayerd status)")
					}
					return adminPost(c, "/nodes/"+c.Args().First()+"/remove")
				},
			},
			{
				Name:  "executor-key",
				Usage: "print the key this node signs result claims with, to register it on the contract (add_executor_key)",
				Flags: []cli.Flag{dataDir},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageError("node executor-key takes no arguments")
					}
					var st daemon.Status
					if err := adminGet(c, "/status", &st); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, st.ExecutorKey)
					return nil
				},
			},
			{
				Name:  "leave",
				Usage: "take this node out of the cluster (a leader hands leadership over first); stop it afterwards",
				Flags: []cli.Flag{dataDir},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageError("node leave takes no arguments")
					}
					return adminPost(c, "/leave")
				},
			},
		},
	}
}

func adminPost(c *cli.Context, path string) error {
	resp, err := adminDo(c, http.MethodPost, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return cli.Exit(fmt.Sprintf("the node answered %s with a body that is not JSON: %v", resp.Status, err), exitFailure)
	}
	if resp.StatusCode != http.StatusOK {
		return cli.Exit(fmt.Sprintf("the node refused: %s", out["error"]), exitFailure)
	}
	for k, v := range out {
		fmt.Fprintf(c.App.Writer, "%s %s\n", k, v)
	}
	return nil
}

// adminGet reads path from the admin socket into out.
func adminGet(c *cli.Context, path string, out any) error {
	resp, err := adminDo(c, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cli.Exit(fmt.Sprintf("the node answered %s", resp.Status), exitFailure)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return cli.Exit(fmt.Sprintf("the node's answer is not JSON: %v", err), exitFailure)
	}
	return nil
}

// adminDo sends one request to the node's admin socket in --data-dir.
func adminDo(c *cli.Context, method, path string) (*http.Response, error) {
	dir, err := filepath.Abs(c.String("data-dir"))
	if err != nil {
		return nil, usageError("--data-dir: %v", err)
	}
	sock := daemon.AdminSocket(dir)
	req, err := http.NewRequestWithContext(c.Context, method, "http://admin"+path, nil)
	if err != nil {
		return nil, usageError("%v", err)
	}
	resp, err := httpguard.UnixClient(sock, 60*time.Second).Do(req)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("reaching the node's admin socket %s (is the node running, and are you its user?): %v", sock, err), exitFailure)
	}
	return resp, nil
}
