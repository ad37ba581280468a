package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// leafCommand is one runnable command of the real app with the flags of
// every command on its path.
type leafCommand struct {
	path    []string   // e.g. ["near", "deploy"]
	own     []cli.Flag // the leaf's flags
	parents []cli.Flag // flags of the commands above it
}

func leafCommands(commands []*cli.Command, path []string, parents []cli.Flag) []leafCommand {
	var out []leafCommand
	for _, c := range commands {
		p := append(append([]string(nil), path...), c.Name)
		if len(c.Subcommands) > 0 {
			out = append(out, leafCommands(c.Subcommands, p, append(append([]cli.Flag(nil), parents...), c.Flags...))...)
			continue
		}
		out = append(out, leafCommand{path: p, own: c.Flags, parents: parents})
	}
	return out
}

// parsed is what a command's action saw.
type parsed struct {
	args  []string
	value string
	isSet bool
}

// captureApp is the real app with every leaf's action replaced by one that
// records its positional arguments and one flag's value.
func captureApp(flag cli.Flag, got *parsed) *cli.App {
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	var walk func([]*cli.Command)
	walk = func(cs []*cli.Command) {
		for _, c := range cs {
			if len(c.Subcommands) > 0 {
				walk(c.Subcommands)
				continue
			}
			for _, f := range c.Flags {
				if sf, ok := f.(*cli.StringFlag); ok {
					sf.Required = false // checked by urfave/cli, not by normalizeArgs
				}
			}
			c.Action = func(c *cli.Context) error {
				*got = parsed{args: c.Args().Slice(), value: flagValue(c, flag), isSet: c.IsSet(flag.Names()[0])}
				return nil
			}
		}
	}
	walk(app.Commands)
	return app
}

// sample is a value the flag accepts, and how flagValue prints it.
func sample(f cli.Flag) (arg, want string) {
	switch f.(type) {
	case *cli.BoolFlag:
		return "", "true"
	case *cli.IntFlag, *cli.UintFlag, *cli.Uint64Flag, *cli.Int64Flag:
		return "7", "7"
	case *cli.DurationFlag:
		return "3s", "3s"
	case *cli.StringSliceFlag:
		return "/ip4/1.2.3.4/tcp/5", "[/ip4/1.2.3.4/tcp/5]"
	case *cli.GenericFlag:
		return "A=1", "A=1"
	case *cli.TimestampFlag:
		return "2023-07-01T00:00:00Z", "2023-07-01 00:00:00 +0000 UTC"
	}
	return "v-1", "v-1"
}

func flagValue(c *cli.Context, f cli.Flag) string {
	name := f.Names()[0]
	switch f.(type) {
	case *cli.BoolFlag:
		return fmt.Sprint(c.Bool(name))
	case *cli.IntFlag:
		return fmt.Sprint(c.Int(name))
	case *cli.UintFlag:
		return fmt.Sprint(c.Uint(name))
	case *cli.Uint64Flag:
		return fmt.Sprint(c.Uint64(name))
	case *cli.Int64Flag:
		return fmt.Sprint(c.Int64(name))
	case *cli.DurationFlag:
		return c.Duration(name).String()
	case *cli.StringSliceFlag:
		return fmt.Sprint(c.StringSlice(name))
	case *cli.GenericFlag:
		return fmt.Sprint(c.Generic(name))
	case *cli.TimestampFlag:
		return fmt.Sprint(c.Timestamp(name))
	}
	return c.String(name)
}

func flagTokens(f cli.Flag) []string {
	arg, _ := sample(f)
	if arg == "" {
		return []string{"--" + f.Names()[0]}
	}
	return []string{"--" + f.Names()[0], arg}
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestEveryFlagOfEveryCommandInEveryPosition runs the real command tree:
// each flag of each command, and each flag of its parents, is written before
// the positional arguments, after them, between them, and (for a parent's
// flag) before the subcommand; the command must see the same value and the
// same positional arguments every time.
func TestEveryFlagOfEveryCommandInEveryPosition(t *testing.T) {
	leaves := leafCommands(newApp().Commands, nil, nil)
	if len(leaves) < 20 {
		t.Fatalf("found only %d commands; the walk is broken", len(leaves))
	}
	pos := []string{"p1", "-", "p3"} // "-" (stdin) is a positional argument
	checked := 0
	for _, leaf := range leaves {
		prefix := append([]string{"outlayerd"}, leaf.path...)
		parentPath := append([]string{"outlayerd"}, leaf.path[:len(leaf.path)-1]...)
		name := leaf.path[len(leaf.path)-1]
		try := func(f cli.Flag, args []string) {
			t.Helper()
			var got parsed
			app := captureApp(f, &got)
			if err := app.Run(normalizeArgs(app, args)); err != nil {
				t.Errorf("%q: %v", args, err)
				return
			}
			_, want := sample(f)
			if got.value != want || !got.isSet || !reflect.DeepEqual(got.args, pos) {
				t.Errorf("%q: the command saw --%s=%q (set %v) and arguments %q; want %q and %q",
					args, f.Names()[0], got.value, got.isSet, got.args, want, pos)
			}
			checked++
		}
		for _, f := range leaf.own {
			ft := flagTokens(f)
			try(f, cat(prefix, ft, pos))
			try(f, cat(prefix, pos, ft))
			try(f, cat(prefix, pos[:1], ft, pos[1:]))
			if len(leaf.parents) > 0 {
				// `near --rpc U deploy A F --init-method new`
				try(f, cat(parentPath, flagTokens(leaf.parents[0]), []string{name}, pos, ft))
			}
		}
		for _, f := range leaf.parents {
			ft := flagTokens(f)
			try(f, cat(parentPath, ft, []string{name}, pos))
			try(f, cat(prefix, ft, pos))
			try(f, cat(prefix, pos, ft))
		}
	}
	t.Logf("%d commands, %d command lines checked", len(leaves), checked)
}

// TestEveryFlagEnvironmentVariable: a flag that names an environment
// variable reads it when the flag is not given, and the flag wins over it.
func TestEveryFlagEnvironmentVariable(t *testing.T) {
	nodeFlagsWithEnv := 0
	for _, leaf := range leafCommands(newApp().Commands, nil, nil) {
		for _, f := range append(append([]cli.Flag(nil), leaf.own...), leaf.parents...) {
			var envs []string
			switch f := f.(type) {
			case *cli.StringFlag:
				envs = f.EnvVars
			case *cli.BoolFlag:
				envs = f.EnvVars
			case *cli.IntFlag:
				envs = f.EnvVars
			case *cli.Uint64Flag:
				envs = f.EnvVars
			case *cli.DurationFlag:
				envs = f.EnvVars
			case *cli.StringSliceFlag:
				envs = f.EnvVars
			}
			if name := leaf.path[0]; name == "run" || name == "join" {
				if len(envs) == 0 || !strings.HasPrefix(envs[0], "OUTLAYER_") {
					t.Errorf("%s --%s has no OUTLAYER_* variable", name, f.Names()[0])
				}
				nodeFlagsWithEnv++
			}
			if len(envs) == 0 {
				continue
			}
			arg, want := sample(f)
			if arg == "" {
				arg = "true"
			}
			t.Setenv(envs[0], arg)
			var got parsed
			app := captureApp(f, &got)
			args := cat([]string{"outlayerd"}, leaf.path, []string{"p1", "-", "p3"})
			if err := app.Run(normalizeArgs(app, args)); err != nil {
				t.Fatalf("%s=%s %q: %v", envs[0], arg, args, err)
			}
			if got.value != want {
				t.Errorf("%s=%s %q: --%s is %q, want %q", envs[0], arg, args, f.Names()[0], got.value, want)
			}
			if _, isBool := f.(*cli.BoolFlag); !isBool {
				over := "9"
				if _, ok := f.(*cli.DurationFlag); ok {
					over = "9s"
				} else if _, ok := f.(*cli.StringFlag); ok {
					over = "over"
				}
				app = captureApp(f, &got)
				args = cat([]string{"outlayerd"}, leaf.path, []string{"p1", "-", "p3", "--" + f.Names()[0], over})
				if err := app.Run(normalizeArgs(app, args)); err != nil {
					t.Fatalf("%q: %v", args, err)
				}
				if !strings.Contains(got.value, over) {
					t.Errorf("%s=%s %q: the flag did not win over the variable: %q", envs[0], arg, args, got.value)
				}
			}
			t.Setenv(envs[0], "")
		}
	}
	if nodeFlagsWithEnv == 0 {
		t.Fatal("no run/join flags found")
	}
}

// TestNormalizeArgs pins the rewriting itself, including the command lines
// that the three earlier hand-written reorderers got wrong.
func TestNormalizeArgs(t *testing.T) {
	app := newApp()
	cases := []struct{ in, want string }{
		// The examples.
		{"near --rpc U deploy a.near c.wasm --init-method new --init-args {}",
			"near --rpc U deploy --init-method new --init-args {} a.near c.wasm"},
		{"near --rpc U call c.near m {} --account a.near",
			"near --rpc U call --account a.near c.near m {}"},
		// A parent's flag after the subcommand goes back to the parent.
		{"near view c.near m --rpc U --json", "near --rpc U --json view c.near m"},
		{"secrets list --account a.near --keys-dir d --contract o.near", "secrets --keys-dir d list --account a.near --contract o.near"},
		// `--` ends the flags: what follows is positional, and stays so.
		{"build ./repo -- --commit X", "build -- ./repo --commit X"},
		{"exec -- -prog.wasm", "exec -- -prog.wasm"},
		// A lone "-" is stdin; a negative number is an argument.
		{"secrets encrypt - --pubkey ab", "secrets encrypt --pubkey ab -"},
		{"near view c.near m -5", "near view -- c.near m -5"},
		// --name=value and boolean flags take no following argument.
		{"exec p.wasm --input=x --json --env A=1", "exec --input=x --json --env A=1 p.wasm"},
		{"attest verify ev.json --dev --policy p.json", "attest verify --dev --policy p.json ev.json"},
		// An unknown flag stays with the innermost command, to be reported by name.
		{"near deploy a.near --bogus c.wasm", "near deploy --bogus a.near c.wasm"},
		{"help near", "help near"},
		// --help anywhere asks for the innermost command's help.
		{"exec p.wasm --help", "exec --help"},
		{"near --help view c.near m", "near --help view"},
		{"exec --input --help p.wasm", "exec --input --help p.wasm"},
		{"unknown x --y", "--y unknown x"},
	}
	for _, c := range cases {
		got := strings.Join(normalizeArgs(app, strings.Fields("outlayerd "+c.in))[1:], " ")
		if got != c.want {
			t.Errorf("normalizeArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUsageErrors: a bad command line is exit status 2 with one line naming
// the command's help, on every command.
func TestUsageErrors(t *testing.T) {
	for _, leaf := range leafCommands(newApp().Commands, nil, nil) {
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		args := cat([]string{"outlayerd"}, leaf.path, []string{"--no-such-flag"})
		err := app.Run(normalizeArgs(app, args))
		var coder cli.ExitCoder
		if !errors.As(err, &coder) || coder.ExitCode() != exitUsage {
			t.Errorf("%q: %v, want exit status %d", args, err, exitUsage)
			continue
		}
		want := "flag provided but not defined: -no-such-flag (see outlayerd " + strings.Join(leaf.path, " ") + " --help)"
		if err.Error() != want {
			t.Errorf("%q: %q, want %q", args, err, want)
		}
	}
	// `--` really ends the flags: build takes one REPO.
	code, _, stderr := runCLI(t, "", "build", "./repo", "--", "--commit", "X", "-o", "x.wasm")
	if code != exitUsage || !strings.Contains(stderr, "exactly one REPO") {
		t.Errorf("build ./repo -- --commit X: exit %d, %q", code, stderr)
	}
}

// TestHelpAnywhere: --help after a command's arguments shows that command's
// help, on every command.
func TestHelpAnywhere(t *testing.T) {
	for _, leaf := range leafCommands(newApp().Commands, nil, nil) {
		args := cat(leaf.path, []string{"p1", "--help"})
		code, stdout, stderr := runCLI(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, "outlayerd "+strings.Join(leaf.path, " ")+" - ") {
			t.Errorf("%q: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
		}
	}
}
