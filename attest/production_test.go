package attest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/attest"
)

func TestNewProduction(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"mrtd":["`+strings.Repeat("ab", 48)+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noTDX := attest.TDXConfig{ConfigFSDir: filepath.Join(dir, "no-configfs"), DevicePath: filepath.Join(dir, "no-device")}

	if _, err := attest.NewProduction(attest.ProductionConfig{TDX: noTDX}); err == nil || !strings.Contains(err.Error(), "--policy") {
		t.Fatalf("no policy: %v", err)
	}
	if _, err := attest.NewProduction(attest.ProductionConfig{PolicyFile: filepath.Join(dir, "missing.json"), TDX: noTDX}); err == nil {
		t.Fatal("a missing policy file was accepted")
	}
	if _, err := attest.NewProduction(attest.ProductionConfig{PolicyFile: policy, CollateralDir: filepath.Join(dir, "nothing"), TDX: noTDX}); err == nil {
		t.Fatal("a missing collateral directory was accepted")
	}
	_, err := attest.NewProduction(attest.ProductionConfig{PolicyFile: policy, TDX: noTDX})
	if !errors.Is(err, attest.ErrTDXUnavailable) || !strings.Contains(err.Error(), "TDX confidential VM") {
		t.Fatalf("no TDX device: %v", err)
	}
	// A machine with the configfs-tsm interface gets the production set.
	tsm := filepath.Join(dir, "tsm-report")
	if err := os.Mkdir(tsm, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := attest.NewProduction(attest.ProductionConfig{PolicyFile: policy, TDX: attest.TDXConfig{ConfigFSDir: tsm}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Attester.Kind() != attest.KindTDX || !strings.Contains(p.Via, "configfs-tsm") {
		t.Fatalf("production attester %v via %q", p.Attester.Kind(), p.Via)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "collateral") {
		t.Fatalf("warnings %q: want the missing collateral named", p.Warnings)
	}
}
