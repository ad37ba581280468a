package main

import (
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersedArgs(t *testing.T) {
	app := &cli.App{Commands: []*cli.Command{
		{Name: "exec", Flags: []cli.Flag{
			&cli.StringFlag{Name: "input"},
			&cli.BoolFlag{Name: "json"},
			&cli.StringSliceFlag{Name: "env"},
		}},
		{Name: "attest", Subcommands: []*cli.Command{
			{Name: "verify", Flags: []cli.Flag{&cli.BoolFlag{Name: "dev"}, &cli.StringFlag{Name: "policy"}}},
		}},
		{Name: "near", SkipFlagParsing: true},
	}}
	cases := []struct{ in, want []string }{
		{[]string{"o", "exec", "p.wasm", "--input", "hi", "--json"},
			[]string{"o", "exec", "--input", "hi", "--json", "p.wasm"}},
		{[]string{"o", "exec", "--json", "p.wasm", "--env", "A=1", "--env=B=2"},
			[]string{"o", "exec", "--json", "--env", "A=1", "--env=B=2", "p.wasm"}},
		// "-" is a positional (stdin), and "--" still ends the flags.
		{[]string{"o", "exec", "-", "--input", "x", "--", "--not-a-flag"},
			[]string{"o", "exec", "--input", "x", "--", "-", "--not-a-flag"}},
		{[]string{"o", "attest", "verify", "ev.json", "--dev", "--policy", "p.json"},
			[]string{"o", "attest", "verify", "--dev", "--policy", "p.json", "ev.json"}},
		// A command that parses its own arguments is left alone.
		{[]string{"o", "near", "view", "c", "m", "--rpc", "u"},
			[]string{"o", "near", "view", "c", "m", "--rpc", "u"}},
		{[]string{"o", "unknown", "x", "--y"}, []string{"o", "unknown", "x", "--y"}},
	}
	for _, c := range cases {
		if got := interspersedArgs(app, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("interspersedArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
