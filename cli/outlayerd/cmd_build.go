package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/exec/build"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build a Go program from a git repository into WASM, as a node would",
		ArgsUsage: "REPO",
		Description: `Clones REPO (an https URL, a file:// URL or a local path), checks out --commit
(a sha, short sha, branch or tag), and builds the Go main package at --path with
GOOS=wasip1 GOARCH=wasm inside the same sandbox a node uses. Prints the WASM's
sha256 on stdout and the resolved commit on stderr. The same commit always gives
the same sha256 with the same Go toolchain.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "commit", Value: "HEAD", Usage: "commit sha, branch or tag to build"},
			&cli.StringFlag{Name: "path", Usage: "directory of the main package inside the repository"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the WASM (required)"},
			&cli.DurationFlag{Name: "timeout", Value: build.DefaultTimeout, Usage: "wall-clock limit of the whole build"},
			&cli.Uint64Flag{Name: "max-memory-mb", Value: build.DefaultMemoryBytes >> 20, Usage: "address space of each build process, in MiB"},
			&cli.StringFlag{Name: "cache-dir", Usage: "module and compile caches kept between builds (default: the user cache dir; \"none\" for a fresh cache each time)"},
			&cli.StringFlag{Name: "go-root", Usage: "Go toolchain to build with (default: the go in PATH)"},
			&cli.BoolFlag{Name: "unsandboxed", Usage: "build without namespaces if the kernel refuses them (development only: the build sees the whole machine; limits still apply)"},
		},
		Action: runBuild,
	}
}

func runBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("build needs exactly one REPO argument (an https URL, file:// URL or local path)")
	}
	out := c.String("output")
	if out == "" {
		return usageError("build needs -o OUT.wasm")
	}

	cfg := build.Config{
		AllowLocalRepos:  true,
		Logger:           slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn})),
		AllowUnsandboxed: c.Bool("unsandboxed"),
		GoRoot:           c.String("go-root"),
		Limits: build.Limits{
			Timeout:     c.Duration("timeout"),
			MemoryBytes: c.Uint64("max-memory-mb") << 20,
		},
	}
	cacheDir := c.String("cache-dir")
	if cacheDir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			cacheDir = filepath.Join(base, "outlayer", "build")
		}
	}
	if cacheDir != "" && cacheDir != "none" {
		cfg.ModCacheDir = filepath.Join(cacheDir, "gomodcache")
		cfg.GoCacheDir = filepath.Join(cacheDir, "gocache")
	}

	b, err := build.New(c.Context, cfg)
	if err != nil {
		if errors.Is(err, build.ErrSandboxUnavailable) {
			return cli.Exit(fmt.Sprintf("%v\n(for a development machine only: --unsandboxed builds without it)", err), exitFailure)
		}
		return cli.Exit(err.Error(), exitFailure)
	}
	res, err := b.Build(c.Context, build.Source{Repo: c.Args().First(), Commit: c.String("commit"), Path: c.String("path")})
	if err != nil {
		if errors.Is(err, build.ErrInvalidSource) {
			return usageError("%v", err)
		}
		return cli.Exit(err.Error(), exitFailure)
	}

	// Replaced atomically: never a half-written WASM.
	if err := renameio.WriteFile(out, res.Wasm, 0o644); err != nil {
		return cli.Exit(fmt.Sprintf("writing %s: %v", out, err), exitFailure)
	}
	fmt.Fprintf(c.App.ErrWriter, "commit %s, %s, %d bytes in %s, written to %s\n",
		res.ResolvedCommit, res.GoVersion, len(res.Wasm), res.Duration.Round(1e7), out)
	fmt.Fprintln(c.App.Writer, res.SHA256)
	return nil
}
