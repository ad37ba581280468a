package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildSample builds testnet/examples/programs/<name> for wasip1.
func buildSample(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../../testnet/examples/programs/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, msg)
	}
	return out
}

// runCLI runs one outlayerd command line in-process, as main does, and
// returns its exit status and what it printed.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runApp(append([]string{"outlayerd"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExecCommand(t *testing.T) {
	dir := t.TempDir()
	echo := buildSample(t, dir, "echo")
	exitcode := buildSample(t, dir, "exitcode")
	envinfo := buildSample(t, dir, "envinfo")
	cache := "--cache-dir=" + filepath.Join(dir, "cache")

	t.Run("success", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "exec", cache, "--input", "hello", echo)
		if code != exitOK || out != "hello" || !strings.Contains(errOut, "ok: ") || !strings.Contains(errOut, "instructions") {
			t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("stdin and json", func(t *testing.T) {
		code, out, _ := runCLI(t, `{"k": [1, 2]}`, "exec", cache, "--input-file", "-", "--format", "json", "--json", echo)
		var resp struct {
			Success       bool
			Output        json.RawMessage
			Error         *string
			ResourcesUsed struct{ Instructions, TimeMS uint64 } `json:"resources_used"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("--json printed %q: %v", out, err)
		}
		if code != exitOK || !resp.Success || string(resp.Output) != `{"k":[1,2]}` || resp.Error != nil || resp.ResourcesUsed.Instructions == 0 {
			t.Fatalf("code %d, response %s", code, out)
		}
	})
	t.Run("failed program", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "exec", cache, exitcode)
		if code != exitFailure || out != "" || !strings.Contains(errOut, "exit status 3") || !strings.Contains(errOut, "always fails") {
			t.Fatalf("code %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, _ = runCLI(t, "", "exec", cache, "--json", exitcode)
		if code != exitFailure || !strings.Contains(out, `"success":false`) || !strings.Contains(out, `exit status 3`) {
			t.Fatalf("--json failure: code %d, %s", code, out)
		}
		code, _, errOut = runCLI(t, "", "exec", cache, "--max-instructions", "1000", echo)
		if code != exitFailure || !strings.Contains(errOut, "instruction limit exceeded") {
			t.Fatalf("instruction limit: code %d, %s", code, errOut)
		}
	})
	t.Run("env, seed and timestamp", func(t *testing.T) {
		args := []string{"exec", cache, "--format", "json", "--env", "API_KEY=a,b=c", "--env", "NEAR_SENDER_ID=alice.near",
			"--seed", "0a0b", "--timestamp", "2026-01-02T03:04:05Z", envinfo}
		code, first, errOut := runCLI(t, "", args...)
		if code != exitOK {
			t.Fatalf("code %d: %s", code, errOut)
		}
		var rep struct {
			Env    map[string]string
			Secret string
			Now    string
		}
		if err := json.Unmarshal([]byte(first), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Secret != "a,b=c" || rep.Env["NEAR_SENDER_ID"] != "alice.near" || !strings.HasPrefix(rep.Now, "2026-01-02T03:04:05.") {
			t.Fatalf("unexpected report %s", first)
		}
		if _, second, _ := runCLI(t, "", args...); second != first {
			t.Fatalf("same command, different output:\n%s\n%s", first, second)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"exec"},
			{"exec", filepath.Join(dir, "missing.wasm")},
			{"exec", echo, "--", "--input", "x"}, // after --, a second file
			{"exec", "--max-instructions", "500000000001", echo},
			{"exec", "--max-memory-mb", "5000", echo},
			{"exec", "--timeout", "181s", echo},
			{"exec", "--timeout", "0s", echo},
			{"exec", "--format", "xml", echo},
			{"exec", "--seed", "zz", echo},
			{"exec", "--env", "NOEQUALS", echo},
			{"exec", "--env", "NEAR_WHATEVER=1", echo},
			{"exec", "--env", "NEAR_BLOCK_HEIGHT=tall", echo},
			{"exec", "--timestamp", "yesterday", echo},
			{"exec", "--input", "a", "--input-file", "-", echo},
			{"exec", "--no-such-flag", echo},
		} {
			code, out, errOut := runCLI(t, "", args...)
			if code != exitUsage || out != "" || errOut == "" {
				t.Errorf("%v: code %d, stdout %q, stderr %q; want exit 2 and a message", args, code, out, errOut)
			}
		}
	})
}
