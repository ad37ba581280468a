package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs is the one place where outlayerd decides which command a
// command-line flag belongs to, so that every command accepts flags where
// people write them:
//
//   - after the positional arguments (`exec prog.wasm --input hi`,
//     `near call C M '{}' --account A`): urfave/cli v2, like Go's flag
//     package, stops reading flags at the first positional argument;
//   - a parent's flag after the subcommand (`near view C M --rpc URL`), or a
//     subcommand's flag before it (`near --rpc URL deploy A f.wasm
//     --init-method new`): urfave/cli v2 only reads a command's own flags at
//     its own level.
//
// It walks the arguments with the command tree the app defines, gives each
// flag (with its value, if it takes one) to the innermost command on the path
// that defines it, and rebuilds the command line as
// `prog [app flags] cmd [cmd flags] sub [sub flags] ... [--] positional...`,
// which urfave/cli then parses with its own flag definitions, environment
// variables and errors. A flag no command on the path defines stays with the
// innermost command, so urfave/cli reports it by name (and --help, which
// urfave/cli adds to every command only when it runs, asks for the innermost
// command's help, whatever the positional arguments). `--` ends the flags:
// everything after it is positional. A token such as `-5` is positional unless
// a flag of that name exists.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	type level struct {
		name  string
		flags []cli.Flag
		out   []string
	}
	path := []*level{{name: args[0], flags: app.Flags}}
	commands := app.Commands
	var positional []string
	needDashes, help := false, false
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			needDashes = len(args) > i+1
			break
		}
		if isFlagToken(a) {
			name, hasValue := flagTokenName(a)
			owner := path[len(path)-1]
			var def cli.Flag
			for j := len(path) - 1; j >= 0; j-- {
				if f := lookupFlag(path[j].flags, name); f != nil {
					owner, def = path[j], f
					break
				}
			}
			if def == nil && looksNumeric(name) {
				positional = append(positional, a)
				needDashes = true
				continue
			}
			if def == nil && (name == "help" || name == "h") {
				help = true
			}
			owner.out = append(owner.out, a)
			if def != nil && !hasValue && takesValue(def) && i+1 < len(args) {
				i++
				owner.out = append(owner.out, args[i])
			}
			continue
		}
		if len(positional) == 0 {
			if cmd := findCommand(commands, a); cmd != nil {
				path = append(path, &level{name: a, flags: cmd.Flags})
				commands = cmd.Subcommands
				continue
			}
		}
		positional = append(positional, a)
	}
	out := make([]string, 0, len(args)+1)
	for _, l := range path {
		out = append(out, l.name)
		out = append(out, l.out...)
	}
	if help {
		// `exec prog.wasm --help` asks for exec's help, not for a help
		// topic named prog.wasm.
		return out
	}
	if needDashes {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// isFlagToken reports whether a looks like a flag; a lone "-" (stdin) is
// positional, as in Go's flag package.
func isFlagToken(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// flagTokenName is the flag's name in "--name", "-name" or "--name=value".
func flagTokenName(a string) (name string, hasValue bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue
}

func looksNumeric(name string) bool {
	return name != "" && (name[0] >= '0' && name[0] <= '9' || name[0] == '.')
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether f consumes the next argument as its value
// (everything but boolean flags).
func takesValue(f cli.Flag) bool {
	if v, ok := f.(interface{ TakesValue() bool }); ok {
		return v.TakesValue()
	}
	return true
}
