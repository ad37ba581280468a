// Command envinfo prints, as JSON, what a program can observe besides its
// input: the NEAR_* context variables, a secret (API_KEY), the clock and
// random numbers. Run twice with the same request it prints the same bytes,
// because the sandbox derives clock and randomness from the request.
package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"
)

type report struct {
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

func main() {
	r := report{Env: map[string]string{}, Args: os.Args}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		r.EnvOrder = append(r.EnvOrder, k)
		if strings.HasPrefix(k, "NEAR_") {
			r.Env[k] = v
		}
	}
	sort.Strings(r.EnvOrder)
	r.Secret = os.Getenv("API_KEY")
	now := time.Now()
	r.Now = now.UTC().Format(time.RFC3339Nano)
	r.NowUnixNano = now.UnixNano()
	time.Sleep(10 * time.Millisecond)
	r.SleptNanos = int64(time.Since(now))
	r.MathRand = rand.Uint64()
	b := make([]byte, 16)
	if _, err := crand.Read(b); err != nil {
		fmt.Fprintln(os.Stderr, "envinfo:", err)
		os.Exit(1)
	}
	r.CryptoRand = hex.EncodeToString(b)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "envinfo:", err)
		os.Exit(1)
	}
}
