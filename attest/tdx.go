package attest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/client"
	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// TDXConfig locates the TDX guest interfaces. Zero values are the Linux
// defaults.
type TDXConfig struct {
	// ConfigFSDir is the configfs-tsm report directory (Linux ≥ 6.7).
	ConfigFSDir string
	// DevicePath is the TDX guest device (older kernels).
	DevicePath string
}

const (
	defaultConfigFSDir = "/sys/kernel/config/tsm/report"
	defaultDevicePath  = "/dev/tdx_guest"
)

// TDXAttester quotes with the machine's TDX module through go-tdx-guest.
type TDXAttester struct {
	useConfigFS bool
}

// DetectTDX says how this machine can produce TDX quotes, or why it
// cannot (ErrTDXUnavailable).
func DetectTDX(cfg TDXConfig) (via string, err error) {
	if cfg.ConfigFSDir == "" {
		cfg.ConfigFSDir = defaultConfigFSDir
	}
	if cfg.DevicePath == "" {
		cfg.DevicePath = defaultDevicePath
	}
	if fi, err := os.Stat(cfg.ConfigFSDir); err == nil && fi.IsDir() {
		return "configfs-tsm " + cfg.ConfigFSDir, nil
	}
	if _, err := os.Stat(cfg.DevicePath); err == nil {
		return "device " + cfg.DevicePath, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s: %v", ErrTDXUnavailable, cfg.DevicePath, err)
	}
	return "", fmt.Errorf("%w: neither %s (configfs-tsm, Linux 6.7+ with the tdx_guest module) nor %s exists; run the node in a TDX confidential VM, or use simulated attestation on a development cluster",
		ErrTDXUnavailable, cfg.ConfigFSDir, cfg.DevicePath)
}

// NewTDX returns a TDX attester, or ErrTDXUnavailable on a machine that is
// not a TDX guest.
func NewTDX(cfg TDXConfig) (*TDXAttester, error) {
	via, err := DetectTDX(cfg)
	if err != nil {
		return nil, err
	}
	return &TDXAttester{useConfigFS: strings.HasPrefix(via, "configfs")}, nil
}

func (a *TDXAttester) Kind() Kind { return KindTDX }

// Quote asks the TDX module for a quote over rd. go-tdx-guest's calls
// cannot be interrupted: on cancellation Quote returns at once and the
// call finishes in the background.
func (a *TDXAttester) Quote(ctx context.Context, rd ReportData) (Evidence, error) {
	type result struct {
		quote []byte
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var q []byte
		var err error
		if a.useConfigFS {
			q, err = client.GetRawQuote(&client.LinuxConfigFsQuoteProvider{}, rd)
		} else {
			var dev *client.LinuxDevice
			dev, err = client.OpenDevice()
			if err == nil {
				q, err = client.GetRawQuote(dev, rd)
				dev.Close()
			}
		}
		done <- result{q, err}
	}()
	select {
	case <-ctx.Done():
		return Evidence{}, fmt.Errorf("TDX quote: %w", ctx.Err())
	case r := <-done:
		if r.err != nil {
			return Evidence{}, fmt.Errorf("TDX quote: %w", r.err)
		}
		// The quote must carry what we asked for; anything else is a
		// broken quoting stack, better caught here than by every verifier.
		q, err := parseQuote(r.quote)
		if err != nil {
			return Evidence{}, err
		}
		if err := CheckReportData(quoteReportData(q), rd); err != nil {
			return Evidence{}, fmt.Errorf("TDX quote from this machine: %w", err)
		}
		return Evidence{Kind: KindTDX, Quote: r.quote}, nil
	}
}

func parseQuote(raw []byte) (*pb.QuoteV4, error) {
	q, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a TDX v4 quote: %v", ErrMalformed, err)
	}
	v4, ok := q.(*pb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported quote format %T", ErrMalformed, q)
	}
	if err := abi.CheckQuoteV4(v4); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v4, nil
}

func quoteReportData(q *pb.QuoteV4) ReportData {
	var rd ReportData
	copy(rd[:], q.GetTdQuoteBody().GetReportData())
	return rd
}
