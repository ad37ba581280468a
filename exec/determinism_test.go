package exec_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

type envinfoReport struct {
	Env         map[string]string `json:"env"`
	Secret      string            `json:"secret"`
	Args        []string          `json:"args"`
	Now         string            `json:"now"`
	NowUnixNano int64             `json:"now_unix_nano"`
	SleptNanos  int64             `json:"slept_nanos"`
	MathRand    uint64            `json:"math_rand"`
	CryptoRand  string            `json:"crypto_rand"`
	EnvOrder    []string          `json:"env_order"`
}

func envinfoRequest(t *testing.T) outexec.Request {
	return outexec.Request{
		Wasm:   sample(t, "envinfo"),
		Format: outexec.FormatJSON,
		Limits: outexec.Limits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, Timeout: 90 * time.Second},
		Context: outexec.Context{
			RequestID:       42,
			SenderID:        "alice.test.near",
			ContractID:      "outlayer.test.near",
			BlockHeight:     123456,
			BlockTimestamp:  1_700_000_000_000_000_000,
			PredecessorID:   "caller.test.near",
			PaymentYocto:    "100000000000000000000000",
			TransactionHash: "9xYz",
		},
		Secrets:   map[string]string{"API_KEY": "s3cret", "OTHER": "x"},
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Seed:      [32]byte{1, 2, 3},
	}
}

func parseEnvinfo(t *testing.T, res outexec.Result) envinfoReport {
	t.Helper()
	var rep envinfoReport
	if err := json.Unmarshal(res.Output, &rep); err != nil {
		t.Fatalf("envinfo output %q: %v", res.Output, err)
	}
	return rep
}

// TestDeterminism runs a program that reads everything a program can observe
// besides its input, on the compiler twice and on the interpreter, and
// expects identical bytes and instruction counts.
func TestDeterminism(t *testing.T) {
	compiler := newRunner(t, outexec.Config{})
	interpreter := newRunner(t, outexec.Config{Interpreter: true})
	req := envinfoRequest(t)

	var runs []outexec.Result
	for _, r := range []*outexec.Runner{compiler, compiler, interpreter} {
		res, err := run(t, r, req)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, res)
	}
	for i, res := range runs[1:] {
		if !bytes.Equal(res.Output, runs[0].Output) || res.Instructions != runs[0].Instructions {
			t.Fatalf("run %d differs: %d instructions vs %d\n%s\nvs\n%s", i+1, res.Instructions, runs[0].Instructions, res.Output, runs[0].Output)
		}
	}

	rep := parseEnvinfo(t, runs[0])
	wantEnv := map[string]string{
		"NEAR_REQUEST_ID":            "42",
		"NEAR_SENDER_ID":             "alice.test.near",
		"NEAR_CONTRACT_ID":           "outlayer.test.near",
		"NEAR_BLOCK_HEIGHT":          "123456",
		"NEAR_BLOCK_TIMESTAMP":       "1700000000000000000",
		"NEAR_PREDECESSOR_ID":        "caller.test.near",
		"NEAR_PAYMENT_YOCTO":         "100000000000000000000000",
		"NEAR_TRANSACTION_HASH":      "9xYz",
		"NEAR_MAX_INSTRUCTIONS":      "50000000",
		"NEAR_MAX_MEMORY_MB":         "64",
		"NEAR_MAX_EXECUTION_SECONDS": "90",
	}
	if !maps.Equal(rep.Env, wantEnv) {
		t.Fatalf("NEAR_* environment\n got %v\nwant %v", rep.Env, wantEnv)
	}
	wantNames := slices.Sorted(maps.Keys(wantEnv))
	wantNames = append(wantNames, "API_KEY", "OTHER")
	slices.Sort(wantNames)
	if !slices.Equal(rep.EnvOrder, wantNames) {
		t.Fatalf("the program sees variables %v, want exactly %v (nothing from the host)", rep.EnvOrder, wantNames)
	}
	if rep.Secret != "s3cret" {
		t.Fatalf("secret %q", rep.Secret)
	}
	if !slices.Equal(rep.Args, []string{"program"}) {
		t.Fatalf("args %v", rep.Args)
	}
	start := req.Timestamp.UnixNano()
	if rep.NowUnixNano < start || rep.NowUnixNano > start+int64(time.Millisecond) {
		t.Fatalf("clock reads %d, want just after the request's timestamp %d", rep.NowUnixNano, start)
	}
	if rep.SleptNanos < int64(10*time.Millisecond) || rep.SleptNanos > int64(11*time.Millisecond) {
		t.Fatalf("a 10ms sleep measured %s on the virtual clock", time.Duration(rep.SleptNanos))
	}

	// The seed and the timestamp are what the program's randomness and
	// clock come from.
	other := req
	other.Seed = [32]byte{9}
	other.Timestamp = req.Timestamp.Add(time.Hour)
	res, err := run(t, compiler, other)
	if err != nil {
		t.Fatal(err)
	}
	rep2 := parseEnvinfo(t, res)
	if rep2.MathRand == rep.MathRand || rep2.CryptoRand == rep.CryptoRand {
		t.Fatal("a different seed gave the same random numbers")
	}
	if rep2.NowUnixNano-rep.NowUnixNano != int64(time.Hour) {
		t.Fatalf("clock moved by %d, want one hour", rep2.NowUnixNano-rep.NowUnixNano)
	}
}

func TestEnvironment(t *testing.T) {
	r := newRunner(t, outexec.Config{})

	t.Run("clock falls back to the block timestamp", func(t *testing.T) {
		req := envinfoRequest(t)
		req.Timestamp = time.Time{}
		res, err := run(t, r, req)
		if err != nil {
			t.Fatal(err)
		}
		if rep := parseEnvinfo(t, res); rep.NowUnixNano/int64(time.Second) != 1_700_000_000 {
			t.Fatalf("clock %d, want the block timestamp", rep.NowUnixNano)
		}
	})
	t.Run("minimal context", func(t *testing.T) {
		req := envinfoRequest(t)
		req.Context = outexec.Context{}
		req.Limits = outexec.Limits{}
		req.Secrets = nil
		res, err := run(t, r, req)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"NEAR_REQUEST_ID": "0", "NEAR_MAX_INSTRUCTIONS": "1000000000",
			"NEAR_MAX_MEMORY_MB": "128", "NEAR_MAX_EXECUTION_SECONDS": "60"}
		if rep := parseEnvinfo(t, res); !maps.Equal(rep.Env, want) || rep.Secret != "" {
			t.Fatalf("env %v secret %q, want only %v", rep.Env, rep.Secret, want)
		}
	})
	t.Run("bad secrets", func(t *testing.T) {
		for _, secrets := range []map[string]string{
			{"NEAR_SENDER_ID": "mallory.near"},
			{"near_sender_id": "mallory.near"},
			{"A=B": "x"},
			{"": "x"},
			{"OK": "nul\x00inside"},
			{"BIG": string(make([]byte, outexec.MaxEnvBytes))},
		} {
			req := envinfoRequest(t)
			req.Secrets = secrets
			_, err := run(t, r, req)
			wantKind(t, err, outexec.ErrBadRequest)
		}
	})
}
