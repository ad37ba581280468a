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
// data directory, list the host's /etc, reach a loopback service, create a
// user namespace, mount, see other processes, write a file over the size
// limit, and (with "spin") burn CPU. It reports each outcome on one line.
const probeSource = `package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Args[1] == "spin" {
		for {
		}
	}
	src, sentinel, addr, scratch := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	if _, err := os.ReadFile(src); err == nil {
		fmt.Println("control: ok")
	} else {
		fmt.Println("control: failed", err)
	}
	if b, err := os.ReadFile(sentinel); err == nil {
		fmt.Printf("sentinel: READ %q\n", b)
	} else {
		fmt.Println("sentinel: denied")
	}
	if _, err := os.ReadFile("/etc/hostname"); err == nil {
		fmt.Println("etc: READ")
	} else {
		fmt.Println("etc: denied")
	}
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		fmt.Println("loopback: CONNECTED")
	} else {
		fmt.Println("loopback: denied")
	}
	up := 0
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 {
			up++
		}
	}
	fmt.Println("interfaces up:", up)
	if err := os.WriteFile(src+".new", []byte("x"), 0o644); err == nil {
		fmt.Println("write-source: WROTE")
	} else {
		fmt.Println("write-source: denied")
	}
	if err := syscall.Unshare(syscall.CLONE_NEWUSER); err == nil {
		fmt.Println("userns: CREATED")
	} else {
		fmt.Println("userns: denied")
	}
	if os.Getenv("PROBE_MOUNT") != "1" {
		fmt.Println("mount: not tried")
	} else if err := syscall.Mount("tmpfs", scratch, "tmpfs", 0, ""); err == nil {
		fmt.Println("mount: MOUNTED")
	} else {
		fmt.Println("mount: denied")
	}
	entries, _ := os.ReadDir("/proc")
	pids := 0
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") == "" {
			pids++
		}
	}
	fmt.Println("processes:", pids)
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "CapEff:") || strings.HasPrefix(line, "CapBnd:") {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
	err := os.WriteFile(scratch+"/big", make([]byte, 2<<20), 0o644)
	fmt.Println("big file:", err != nil)
}
`

// buildProbe compiles probeSource as a static native binary into a new
// directory, which stands for a build's source: the only host directory the
// probe is given (read-only).
func buildProbe(t *testing.T, goroot string) string {
	t.Helper()
	srcDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module probe\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(goroot, "bin", "go"), "build", "-o", "probe", ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	return srcDir
}

func TestSandboxHidesNodeDataAndNetwork(t *testing.T) {
	ctx := context.Background()
	b, err := New(ctx, Config{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srcDir := buildProbe(t, b.goroot)
	scratch := t.TempDir() // writable, like the compile cache

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

	probe := func(j jail) string {
		t.Helper()
		j.mounts = []mount{{Path: srcDir}, {Path: scratch, Writable: true}}
		j.env = []string{"PATH=/nonexistent"}
		if !j.hostView { // on the host's view a root test would really mount
			j.env = append(j.env, "PROBE_MOUNT=1")
		}
		j.dir = srcDir
		j.rlimits = rlimits{AddressSpace: 1 << 32, CPUSeconds: 30, FileBytes: 1 << 20}
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := b.sandbox.run(tctx, j, []string{filepath.Join(srcDir, "probe"),
			filepath.Join(srcDir, "go.mod"), sentinel, ln.Addr().String(), scratch})
		if err != nil {
			t.Fatalf("probe: %v\n%s", err, out)
		}
		return string(out)
	}
	expect := func(name, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w+"\n") {
				t.Errorf("%s: want %q in\n%s", name, w, got)
			}
		}
	}

	// Control: on the host's view the same probe reads the sentinel and
	// reaches the listener, so the denials below are the sandbox's doing.
	expect("host view", probe(jail{hostView: true}),
		"control: ok", `sentinel: READ "secret"`, "etc: READ", "loopback: CONNECTED", "big file: true")

	expect("compile jail", probe(jail{}),
		"control: ok", "sentinel: denied", "etc: denied", "loopback: denied", "interfaces up: 0",
		"write-source: denied", "userns: denied", "mount: denied", "processes: 1",
		"CapEff: 0000000000000000", "CapBnd: 0000000000000000", "big file: true")

	// The download step shares the network, nothing else.
	expect("download jail", probe(jail{network: true}),
		"sentinel: denied", "etc: denied", "loopback: CONNECTED", "userns: denied", "mount: denied",
		"CapEff: 0000000000000000")
}

// TestSandboxCPULimit: a command that spins is killed when it has used
// its CPU seconds, long before the wall-clock deadline.
func TestSandboxCPULimit(t *testing.T) {
	ctx := context.Background()
	b, err := New(ctx, Config{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srcDir := buildProbe(t, b.goroot)
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	j := jail{mounts: []mount{{Path: srcDir}}, dir: srcDir,
		rlimits: rlimits{AddressSpace: 1 << 32, CPUSeconds: 1, FileBytes: 1 << 20}}
	out, err := b.sandbox.run(tctx, j, []string{filepath.Join(srcDir, "probe"), "spin"})
	sig, ok := exitSignal(err)
	if !ok || !limitSignal(sig) {
		t.Fatalf("a spinning command ended with %v (%s), want a kill by its CPU limit", err, out)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("a 1 s CPU limit took %s", d)
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
