package devchain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// Config configures a devchain.
type Config struct {
	// Home holds the root account's key file and, with Persist, the state.
	Home string
	// RPCAddr is where JSON-RPC is served ("127.0.0.1:0" picks a port).
	RPCAddr string
	// BlockTime is the block interval (default 1s).
	BlockTime time.Duration
	// Persist saves the state to Home on Close and loads it on New.
	Persist bool
	// ChainID is reported by status (default "localnet").
	ChainID string
	// RootAccount is the genesis account (default "test.near").
	RootAccount string
	// RootBalance is its balance in yocto (default 10^9 NEAR).
	RootBalance near.U128
	// YieldTimeout is the yield/resume timeout in blocks (default 200).
	YieldTimeout uint64
	// MaxPrepaidGas caps a transaction's function-call gas (default 300 Tgas).
	MaxPrepaidGas uint64
	// TxTimeout bounds how long send_tx/tx wait (default 10s, as nearcore).
	TxTimeout time.Duration
	// CallTimeout is the wall-clock safety net per contract call (default 10s).
	CallTimeout time.Duration
	// Logger receives block and RPC diagnostics (default: discarded).
	Logger *slog.Logger
	// KeepBlocks is how many recent blocks (with their chunks) stay in
	// memory (default DefaultKeepBlocks). Older blocks and chunks answer UNKNOWN_BLOCK
	// and UNKNOWN_CHUNK, like a node that garbage-collected them.
	KeepBlocks int
	// KeepTransactions is how many finished transactions, with their
	// receipts and outcomes, stay queryable (default
	// DefaultKeepTransactions, counted in inclusion order). Older ones answer UNKNOWN_TRANSACTION.
	KeepTransactions int
}

// Defaults for Config's history window.
const (
	DefaultKeepBlocks       = 10_000
	DefaultKeepTransactions = 100_000
)

// NEAR constants the devchain uses.
const (
	GasPrice                  = 100_000_000 // yocto per gas, NEAR's minimum
	transactionValidityPeriod = 86_400
	maxTransactionSize        = 1_572_864
	maxActionsPerTransaction  = 100
	epochLength               = 43_200
	protocolVersion           = 86
	accessKeyNonceRange       = 1_000_000
	systemAccount             = "system"
	registrarAccount          = "registrar"
)

func (c *Config) defaults() {
	if c.BlockTime <= 0 {
		c.BlockTime = time.Second
	}
	if c.ChainID == "" {
		c.ChainID = "localnet"
	}
	if c.RootAccount == "" {
		c.RootAccount = "test.near"
	}
	if c.RootBalance.IsZero() {
		c.RootBalance, _ = near.OneNEAR.Mul64(1_000_000_000)
	}
	if c.YieldTimeout == 0 {
		c.YieldTimeout = 200
	}
	if c.MaxPrepaidGas == 0 {
		c.MaxPrepaidGas = 300_000_000_000_000
	}
	if c.TxTimeout <= 0 {
		c.TxTimeout = 10 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.RPCAddr == "" {
		c.RPCAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.KeepBlocks <= 0 {
		c.KeepBlocks = DefaultKeepBlocks
	}
	if c.KeepTransactions <= 0 {
		c.KeepTransactions = DefaultKeepTransactions
	}
}

// Chain is a running devchain.
type Chain struct {
	cfg     Config
	log     *slog.Logger
	engine  *vm.Engine
	rootKey *near.KeyPair
	keyFile string

	mu sync.Mutex
	st *state
	// blocks is the in-memory window of recent blocks, oldest first, with
	// contiguous heights: index = height - blocks[0].Height.
	blocks []*block
	// recentHashes are the hashes of the last transactionValidityPeriod
	// blocks, oldest first (recentHashes[i] is at height hashesBase+i), so
	// transactions can name a block that already left the window. Lookups
	// scan from the newest: clients name recent blocks, and a scan avoids
	// the churn of a hash map that loses an entry every block.
	recentHashes []near.CryptoHash
	hashesBase   uint64
	genesisHash  near.CryptoHash
	genesisTime  uint64 // ns, for genesis_time
	// historyFrom is the first height whose state queries can answer: the
	// head a persisted chain restarted from (state changes are not saved).
	historyFrom uint64
	pendingTxs  []*txRecord
	txs         map[near.CryptoHash]*txRecord
	// included lists the retained included transactions, oldest first, so
	// the oldest can be forgotten beyond Config.KeepTransactions.
	included    []*txRecord
	receipts    map[near.CryptoHash]*receipt // every receipt, for EXPERIMENTAL_receipt and tx status
	outcomes    map[near.CryptoHash]*near.ExecutionOutcomeWithIDView
	incoming    []*receipt                   // to execute in the next block
	postponed   map[near.CryptoHash]*receipt // action receipts waiting for data, by receipt id
	waitingData map[near.CryptoHash]near.CryptoHash
	received    map[near.CryptoHash]*dataValue
	yields      map[near.CryptoHash]string // pending yield data id -> account
	// resumeInitiated marks pending yields whose resume already ran, so a
	// timeout that fires before the payload arrives is cancelled.
	resumeInitiated map[near.CryptoHash]bool
	timeouts        []yieldTimeout
	changed         chan struct{} // closed and replaced after every block

	listener net.Listener
	server   *http.Server
	cancel   context.CancelFunc
	done     chan struct{}
	started  time.Time
	closed   atomic.Bool
}

type dataValue struct{ data []byte }

type yieldTimeout struct {
	dataID    near.CryptoHash
	expiresAt uint64
}

type block struct {
	Height    uint64
	Hash      near.CryptoHash
	PrevHash  near.CryptoHash
	ChunkHash near.CryptoHash
	Timestamp uint64
	Txs       []*txRecord
	Receipts  []*receipt // receipts executed in this block
	GasBurnt  uint64
	Changes   []stateChange // state changes, in order (history.go)
}

const genesisHeight = 1

// New creates a devchain: the genesis block, the root account and its key
// file in Home (near-cli credentials format). Call Start to serve RPC and
// produce blocks.
func New(cfg Config) (*Chain, error) {
	cfg.defaults()
	if cfg.Home == "" {
		return nil, errors.New("devchain: Config.Home is required (the root key file is written there)")
	}
	if err := near.ValidateAccountID(cfg.RootAccount); err != nil {
		return nil, fmt.Errorf("devchain: root account: %w", err)
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("devchain: create home %s: %w", cfg.Home, err)
	}
	engine, err := vm.NewEngine(context.Background(), vm.Config{MaxGasBurnt: cfg.MaxPrepaidGas, Timeout: cfg.CallTimeout})
	if err != nil {
		return nil, fmt.Errorf("devchain: %w", err)
	}
	c := &Chain{
		cfg: cfg, log: cfg.Logger, engine: engine,
		st: newState(), txs: map[near.CryptoHash]*txRecord{},
		receipts: map[near.CryptoHash]*receipt{}, outcomes: map[near.CryptoHash]*near.ExecutionOutcomeWithIDView{},
		postponed: map[near.CryptoHash]*receipt{}, waitingData: map[near.CryptoHash]near.CryptoHash{},
		received: map[near.CryptoHash]*dataValue{}, yields: map[near.CryptoHash]string{},
		resumeInitiated: map[near.CryptoHash]bool{},
		changed:         make(chan struct{}), started: time.Now(),
	}
	c.keyFile = filepath.Join(cfg.Home, cfg.RootAccount+".json")
	if err := c.loadOrCreateRootKey(); err != nil {
		_ = engine.Close(context.Background())
		return nil, err
	}
	loaded := false
	if cfg.Persist {
		if loaded, err = c.loadSnapshot(); err != nil {
			_ = engine.Close(context.Background())
			return nil, err
		}
	}
	if !loaded {
		c.genesis()
	}
	return c, nil
}

func (c *Chain) loadOrCreateRootKey() error {
	if _, err := os.Stat(c.keyFile); err == nil {
		acc, kp, err := near.LoadKeyFile(c.keyFile)
		if err != nil {
			return fmt.Errorf("devchain: read root key: %w", err)
		}
		if acc != c.cfg.RootAccount {
			return fmt.Errorf("devchain: key file %s is for %s, not %s", c.keyFile, acc, c.cfg.RootAccount)
		}
		c.rootKey = kp
		return nil
	}
	kp, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		return fmt.Errorf("devchain: generate root key: %w", err)
	}
	if err := near.SaveKeyFile(c.keyFile, c.cfg.RootAccount, kp); err != nil {
		return fmt.Errorf("devchain: write root key: %w", err)
	}
	c.rootKey = kp
	return nil
}

func (c *Chain) genesis() {
	root := c.st.createAccount(c.cfg.RootAccount)
	defer c.st.takeChanges() // genesis has no block before it to differ from
	root.Amount = c.cfg.RootBalance
	k := near.FullAccessKey()
	root.Keys[c.rootKey.PublicKey()] = k
	root.StorageUsage += accessKeyStorage(c.rootKey.PublicKey(), k)
	c.st.commit()
	g := &block{Height: genesisHeight, Timestamp: uint64(time.Now().UnixNano())}
	g.Hash = sha256.Sum256([]byte("devchain genesis " + c.cfg.ChainID + " " + time.Now().String()))
	c.genesisHash, c.genesisTime = g.Hash, g.Timestamp
	c.addBlock(g)
}

// addBlock appends b to the window and indexes it.
func (c *Chain) addBlock(b *block) {
	b.ChunkHash = deriveID(b.Hash, "chunk", 0)
	c.blocks = append(c.blocks, b)
	if len(c.recentHashes) == 0 {
		c.hashesBase = b.Height
	}
	c.recentHashes = append(c.recentHashes, b.Hash)
}

// blockByHash finds a block of the in-memory window.
func (c *Chain) blockByHash(h near.CryptoHash) *block {
	for i := len(c.blocks) - 1; i >= 0; i-- {
		if c.blocks[i].Hash == h {
			return c.blocks[i]
		}
	}
	return nil
}

// blockByChunk finds the block of a chunk hash in the in-memory window.
func (c *Chain) blockByChunk(h near.CryptoHash) *block {
	for i := len(c.blocks) - 1; i >= 0; i-- {
		if c.blocks[i].ChunkHash == h {
			return c.blocks[i]
		}
	}
	return nil
}

// heightOfHash is the height of a block among the last
// transactionValidityPeriod blocks.
func (c *Chain) heightOfHash(h near.CryptoHash) (uint64, bool) {
	for i := len(c.recentHashes) - 1; i >= 0; i-- {
		if c.recentHashes[i] == h {
			return c.hashesBase + uint64(i), true
		}
	}
	return 0, false
}

// prune drops the blocks beyond Config.KeepBlocks and the finished
// transactions beyond Config.KeepTransactions, with their receipts and
// outcomes, so memory stays bounded however long the chain runs.
func (c *Chain) prune() {
	for len(c.blocks) > c.cfg.KeepBlocks {
		c.blocks[0] = nil
		c.blocks = c.blocks[1:]
	}
	if n := len(c.recentHashes) - transactionValidityPeriod; n > 0 {
		c.recentHashes = c.recentHashes[n:]
		c.hashesBase += uint64(n)
	}
	for len(c.included) > c.cfg.KeepTransactions {
		tx := c.included[0]
		if txLevel(tx) < levelFinal {
			// Still running (a pending yield finishes within the yield
			// timeout); younger transactions wait behind it.
			break
		}
		c.included[0] = nil
		c.included = c.included[1:]
		delete(c.txs, tx.hash)
		for _, id := range tx.allReceipts {
			delete(c.receipts, id)
			delete(c.outcomes, id)
		}
	}
}

// RootAccount is the genesis account id.
func (c *Chain) RootAccount() string { return c.cfg.RootAccount }

// RootKey is the genesis account's full-access key.
func (c *Chain) RootKey() *near.KeyPair { return c.rootKey }

// RootKeyFile is the path of the root key in near-cli credentials format.
func (c *Chain) RootKeyFile() string { return c.keyFile }

// Start serves JSON-RPC on Config.RPCAddr and produces blocks until ctx ends
// or Close is called.
func (c *Chain) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.RPCAddr)
	if err != nil {
		return fmt.Errorf("devchain: listen on %s: %w", c.cfg.RPCAddr, err)
	}
	c.listener = ln
	c.server = &http.Server{Handler: c.rpcHandler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go func() {
		if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("devchain RPC server stopped", "err", err)
		}
	}()
	go c.produceLoop(ctx)
	c.log.Info("devchain started", "rpc", c.RPCURL(), "root", c.cfg.RootAccount, "key_file", c.keyFile)
	return nil
}

// RPCURL is the JSON-RPC endpoint (valid after Start).
func (c *Chain) RPCURL() string {
	if c.listener == nil {
		return ""
	}
	return "http://" + c.listener.Addr().String()
}

// Close stops block production and RPC, and with Persist saves the state.
// Calling it again does nothing.
func (c *Chain) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var errs []error
	if c.cancel != nil {
		c.cancel()
		<-c.done
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, c.server.Shutdown(shut))
		cancel()
	}
	if c.cfg.Persist {
		c.mu.Lock()
		errs = append(errs, c.saveSnapshot())
		c.mu.Unlock()
	}
	errs = append(errs, c.engine.Close(context.Background()))
	return errors.Join(errs...)
}

func (c *Chain) produceLoop(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.cfg.BlockTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			c.produceBlock(ctx)
			c.mu.Unlock()
		}
	}
}

// FastForward produces n blocks at once (near-sandbox's sandbox_fast_forward),
// processing receipts and yield timeouts that fall due.
func (c *Chain) FastForward(ctx context.Context, n uint64) error {
	for i := uint64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		c.produceBlock(ctx)
		c.mu.Unlock()
	}
	return nil
}

// Height is the latest block height.
func (c *Chain) Height() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head().Height
}

func (c *Chain) head() *block { return c.blocks[len(c.blocks)-1] }

// earliest is the oldest block still in memory.
func (c *Chain) earliest() *block { return c.blocks[0] }

func (c *Chain) blockAt(height uint64) *block {
	base := c.blocks[0].Height // genesis, or the head a persisted state restarted from
	if height < base || height-base >= uint64(len(c.blocks)) {
		return nil
	}
	return c.blocks[height-base]
}

// deriveID makes a deterministic unique 32-byte id (receipt ids, data ids).
func deriveID(parent near.CryptoHash, kind string, n uint64) near.CryptoHash {
	var stack [128]byte
	buf := append(stack[:0], parent[:]...)
	buf = append(buf, kind...)
	buf = binary.LittleEndian.AppendUint64(buf, n)
	return sha256.Sum256(buf)
}

// produceBlock makes the next block: it executes the receipts of the previous
// block, converts pending transactions into receipts (executed next block),
// fires due yield timeouts, and wakes RPC waiters.
func (c *Chain) produceBlock(ctx context.Context) {
	prev := c.head()
	b := &block{Height: prev.Height + 1, PrevHash: prev.Hash, Timestamp: max(uint64(time.Now().UnixNano()), prev.Timestamp+1)}
	var pre [48]byte // prev hash, height, timestamp
	copy(pre[:32], prev.Hash[:])
	binary.LittleEndian.PutUint64(pre[32:], b.Height)
	binary.LittleEndian.PutUint64(pre[40:], b.Timestamp)
	b.Hash = sha256.Sum256(pre[:])
	c.addBlock(b)

	incoming := c.incoming
	c.incoming = nil
	for _, r := range incoming {
		c.applyReceipt(ctx, b, r)
	}
	pending := c.pendingTxs
	c.pendingTxs = nil
	for _, tx := range pending {
		c.includeTx(b, tx)
	}
	c.fireYieldTimeouts(b)
	b.Changes = c.st.takeChanges()
	c.prune()
	close(c.changed)
	c.changed = make(chan struct{})
}
