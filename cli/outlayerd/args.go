package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersedArgs lets flags follow a command's positional arguments.
//
// urfave/cli v2 (like Go's flag package) stops reading flags at the first
// positional argument, so `outlayerd exec prog.wasm --input hi` would treat
// `--input` as a second file. People write flags wherever they like, so before
// parsing we move every flag of the chosen command in front of its positional
// arguments. A `--` still ends flag parsing, and commands that parse their own
// arguments (SkipFlagParsing) are left alone.
func interspersedArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	commands := app.Commands
	i := 1
	for ; i < len(args); i++ {
		next := findCommand(commands, args[i])
		if next == nil {
			break
		}
		cmd, commands = next, next.Subcommands
	}
	if cmd == nil || cmd.SkipFlagParsing || i == len(args) {
		return args
	}

	var flags, positional []string
	rest := args[i:]
	dashdash := -1
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			dashdash = j
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if takesValue(cmd, a) && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}

	out := append([]string{}, args[:i]...)
	out = append(out, flags...)
	if dashdash >= 0 {
		out = append(out, "--")
		out = append(out, positional...)
		return append(out, rest[dashdash+1:]...)
	}
	return append(out, positional...)
}

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag token arg ("--name" or "-n") consumes
// the following argument as its value. Unknown flags are treated as taking
// none, so urfave/cli reports them by name.
func takesValue(cmd *cli.Command, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if bf, ok := f.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				return false
			}
			if _, ok := f.(*cli.BoolFlag); ok {
				return false
			}
			return true
		}
	}
	return false
}
