package build

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// probeSource tries what a hostile build would: read a file of the node's
// data directory, list the host's /etc, reach a loopback service and the
// outside world. It reports each outcome on one line.
const probeSource = `package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if _, err := os.ReadFile(os.Args[1]); err == nil {
		fmt.Println("control: ok")
	} else {
		fmt.Println("control: failed", err)
	}
	if b, err := os.ReadFile(os.Args[2]); err == nil {
		fmt.Printf("sentinel: READ %q\n", b)
	} else {
		fmt.Println("sentinel: denied")
	}
	if _, err := os.ReadFile("/etc/hostname"); err == nil {
		fmt.Println("etc: READ")
	} else {
		fmt.Println("etc: denied")
	}
	if c, err := net.DialTimeout("tcp", os.Args[3], 2*time.Second); err == nil {
		c.Close()
		fmt.Println("loopback: CONNECTED")
	} else {
		fmt.Println("loopback: denied")
	}
	if err := os.WriteFile(os.Args[1]+".new", []byte("x"), 0o644); err == nil {
		fmt.Println("write-source: WROTE")
	} else {
		fmt.Println("write-source: denied")
	}
}
`

func TestSandboxHidesNodeDataAndNetwork(t *testing.T) {
	ctx := context.Background()
	b, err := New(ctx, Config{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	// The probe is a static native binary placed where a build's source
	// would be: the only host directory it is given.
	srcDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module probe\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(b.goroot, "bin", "go"), "build", "-o", "probe", ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}

	dataDir := t.TempDir() // stands for the node's data directory
	sentinel := filepath.Join(dataDir, "keystore.sealed")
	if err := os.WriteFile(sentinel, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	j := jail{
		mounts:  []mount{{path: srcDir}},
		env:     []string{"PATH=/nonexistent"},
		dir:     srcDir,
		rlimits: rlimits{addressSpace: 1 << 32, cpuSeconds: 30, fileBytes: 1 << 20},
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := b.sandbox.run(tctx, j, []string{filepath.Join(srcDir, "probe"),
		filepath.Join(srcDir, "go.mod"), sentinel, ln.Addr().String()})
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"control: ok", "sentinel: denied", "etc: denied", "loopback: denied", "write-source: denied",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("sandbox probe: want %q in\n%s", want, got)
		}
	}
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"main", "v1.2.3", "feature/x-y_z", "0123abcd", "HEAD"} {
		if err := checkRef(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-b", "a..b", "HEAD~1", "HEAD^", "@{-1}", ":/fix", "a b", "x.lock", "x/", strings.Repeat("a", 300)} {
		if err := checkRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
