package hostcall

import (
	"context"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/egress"
	"github.com/outlayer/outlayer/exec/hostabi"
)

// Fetcher sends outbound HTTP; *egress.Client implements it.
type Fetcher interface {
	Fetch(ctx context.Context, req *egress.Request) (*egress.Response, error)
}

// StorageReader reads program storage from a replica; *store.Store
// implements it.
type StorageReader interface {
	ProgGet(ns, key []byte) ([]byte, bool, error)
	ProgList(ns, prefix, after []byte, limit int) ([][]byte, error)
}

// Chain reads NEAR; *near.Client implements it.
type Chain interface {
	Block(ctx context.Context, ref near.BlockReference) (*near.BlockView, error)
	Query(ctx context.Context, requestType string, ref near.BlockReference, params map[string]any, result any) error
}

// Limits bound one run's host calls. Zero fields take the defaults.
type Limits struct {
	HTTPCalls         int           // fetches per run (16)
	HTTPRequestBytes  int           // one request's body (1 MiB)
	HTTPResponseBytes int64         // one response's body (4 MiB)
	HTTPTotalBytes    int64         // all response bodies of a run (4 MiB)
	HTTPCallTimeout   time.Duration // one fetch (10 s)
	HTTPTotalTime     time.Duration // all fetches of a run (30 s)
	StorageCalls      int           // storage calls per run (1000)
	StorageWriteBytes int           // bytes of keys and values written per run (1 MiB)
	StorageQuota      uint64        // bytes one program may store (16 MiB)
	StorageBudget     uint64        // bytes all programs may store together (0: no budget)
	VRFCalls          int           // vrf_generate per run (10)
	ViewCalls         int           // near_view per run (100)
}

// WithDefaults fills in the zero fields.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.HTTPCalls, 16)
	def(&l.HTTPRequestBytes, 1<<20)
	def(&l.StorageCalls, 1000)
	def(&l.StorageWriteBytes, 1<<20)
	def(&l.VRFCalls, 10)
	def(&l.ViewCalls, 100)
	if l.HTTPResponseBytes <= 0 {
		l.HTTPResponseBytes = 4 << 20
	}
	if l.HTTPTotalBytes <= 0 {
		l.HTTPTotalBytes = 4 << 20
	}
	if l.HTTPCallTimeout <= 0 {
		l.HTTPCallTimeout = 10 * time.Second
	}
	if l.HTTPTotalTime <= 0 {
		l.HTTPTotalTime = 30 * time.Second
	}
	if l.StorageQuota == 0 {
		l.StorageQuota = 16 << 20
	}
	return l
}

// Config is one run's services and identity. A nil service answers its
// calls Unavailable.
type Config struct {
	// RequestID and Sender identify the request: VRF's alpha, and the
	// user scope of storage (Sender).
	RequestID uint64
	Sender    string
	// Code is the program's identity, whose storage the run uses: "project:"
	// and the project's uuid for a project's run, else the sha256 of its
	// WASM in hex.
	Code string
	// ProjectID is the project ("owner/name") of a project's run, empty
	// otherwise: its storage is dropped when the project is deleted.
	ProjectID string

	HTTP Fetcher
	// Hosts, when non-nil, are the only hosts the program may fetch from
	// (its manifest's list, narrowed by the node); nil allows any host
	// the SSRF guard allows.
	Hosts   []string
	Storage StorageReader
	VRF     *VRF
	Chain   Chain
	Limits  Limits
}

// Session answers one run's host calls. Its Handle method is a
// hostabi.Handler; calls come one at a time.
type Session struct {
	cfg    Config
	limits Limits

	httpCalls int
	httpBytes int64
	httpTime  time.Duration

	storageCalls int
	writeBytes   int
	overlay      map[string]*overlayValue // ns‖key → the run's own write
	reads        map[string]bool          // ns‖key read from the store
	effects      effects

	vrfCalls  int
	viewCalls int
	block     *near.BlockView // pinned at the first view
}

// New starts a session for one run.
func New(cfg Config) *Session {
	return &Session{cfg: cfg, limits: cfg.Limits.WithDefaults(),
		overlay: map[string]*overlayValue{}, reads: map[string]bool{}}
}

// Handle answers one host call.
func (s *Session) Handle(ctx context.Context, c hostabi.Call) hostabi.Reply {
	switch c.Fn {
	case hostabi.FnHTTPFetch:
		return s.fetch(ctx, c.Args)
	case hostabi.FnStorageGet, hostabi.FnStorageSet, hostabi.FnStorageHas, hostabi.FnStorageDelete,
		hostabi.FnStorageSetIfAbsent, hostabi.FnStorageSetIfEquals, hostabi.FnStorageIncrement, hostabi.FnStorageList:
		return s.storage(c.Fn, c.Args)
	case hostabi.FnVRFGenerate:
		return s.vrfGenerate(c.Args)
	case hostabi.FnVRFPubkey:
		return s.vrfPubkey()
	case hostabi.FnNearView:
		return s.view(ctx, c.Args)
	}
	return hostabi.Errorf(hostabi.Unavailable, "%s is not offered by this node", c.Fn)
}
