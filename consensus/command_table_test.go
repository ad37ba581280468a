package consensus

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// commandTypesInSource lists the types of this package's non-test sources
// that have an apply method: every one is a Command.
func commandTypesInSource(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "apply" {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := star.X.(*ast.Ident); ok {
					out = append(out, id.Name)
				}
			}
		}
	}
	return out
}

// The command table is the vocabulary: every command of the package is in
// it, and every entry is whole — a unique code and name, a Go type that
// maps back to its entry, an envelope round trip that keeps every field,
// and an apply that reaches the store.
func TestCommandTableCoversEveryCommand(t *testing.T) {
	declared := commandTypesInSource(t)
	if len(declared) == 0 {
		t.Fatal("found no command types in the package source")
	}
	var inTable []string
	for _, d := range commands.all {
		inTable = append(inTable, d.name)
	}
	for _, name := range declared {
		if !slices.Contains(inTable, name) {
			t.Errorf("%s has an apply method but no entry in the command table: add command[%s](<next code>) to commands", name, name)
		}
	}
	if len(inTable) != len(declared) {
		t.Errorf("the table has %d entries, the source declares %d commands (%v vs %v)", len(inTable), len(declared), inTable, declared)
	}

	now := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	codes := map[CommandType]string{}
	names := map[string]bool{}
	var seed uint64
	for i := range commands.all {
		d := &commands.all[i]
		if d.code == 0 {
			t.Errorf("%s: code 0 is not a command code", d.name)
		}
		if other, dup := codes[d.code]; dup {
			t.Errorf("%s and %s share code %d", other, d.name, d.code)
		}
		codes[d.code] = d.name
		if d.name == "" || names[d.name] {
			t.Errorf("entry %d: name %q is empty or repeated", i, d.name)
		}
		names[d.name] = true
		if got := d.code.String(); got != d.name {
			t.Errorf("code %d prints as %q, want %q", d.code, got, d.name)
		}
		if commands.byCode[d.code] != d {
			t.Errorf("%s: looking up code %d finds another entry", d.name, d.code)
		}
		empty := d.new()
		if commands.of(empty) != d || typeOf(empty) != d.code {
			t.Errorf("%s: a new %T does not map back to its entry", d.name, empty)
		}

		// Round trip with every field set.
		full := d.new()
		fill(reflect.ValueOf(full).Elem(), &seed)
		b, err := encodeCommand(full, now)
		if err != nil {
			t.Fatalf("%s: encode: %v", d.name, err)
		}
		wantVersion := CommandVersion
		if d.appendCompact != nil {
			wantVersion = CommandVersionCompact
			if b[0] == CommandVersionCompactExt { // a compact body with extensions
				wantVersion = CommandVersionCompactExt
			}
		}
		if b[0] != wantVersion || CommandType(b[1]) != d.code {
			t.Errorf("%s: header %v, want version %d code %d", d.name, b[:2], wantVersion, d.code)
		}
		got, at, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", d.name, err)
		}
		if !at.Equal(now) || !reflect.DeepEqual(got, full) {
			t.Errorf("%s: round trip changed the command:\n got %#v at %v\nwant %#v at %v", d.name, got, at, full, now)
		}

		// apply reaches the store: it commits, or the store refuses the
		// input with one of its own errors (never a panic, never ours).
		s, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Command{empty, full} {
			err := s.Update(func(tx *store.Tx) error {
				_, err := c.apply(tx, now)
				return err
			})
			if err != nil && !isStoreError(err) {
				t.Errorf("%s: apply failed outside the store's vocabulary: %v", d.name, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if CommandType(255).String() != "CommandType(255)" {
		t.Errorf("an unknown code prints as %q", CommandType(255).String())
	}
}

func isStoreError(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrInvalidTransition, store.ErrNotHolder, store.ErrCursorRegression, store.ErrBadInput,
		store.ErrStorageConflict, store.ErrStorageQuota} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// A command type the table does not know is refused before it reaches
// the log.
func TestEncodeRefusesCommandsOutsideTheTable(t *testing.T) {
	if _, err := encodeCommand(&stray{}, time.Now()); !errors.Is(err, ErrBadCommand) {
		t.Errorf("stray command: got %v, want ErrBadCommand", err)
	}
	if _, err := encodeCommand((*Fail)(nil), time.Now()); !errors.Is(err, ErrBadCommand) {
		t.Errorf("typed nil command: got %v, want ErrBadCommand", err)
	}
}

// stray is a Command that is not in the table (declared in a test file, so
// the source scan above does not count it).
type stray struct{}

func (*stray) apply(*store.Tx, time.Time) (Result, error) { return Result{}, nil }
