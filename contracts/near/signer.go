package near

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Defaults for signed calls.
const (
	// DefaultFunctionCallGas is 30 Tgas, near-cli's default.
	DefaultFunctionCallGas = 30_000_000_000_000
	// TGas is 10^12 gas.
	TGas = 1_000_000_000_000
	// maxNonceRetries bounds how often a transaction is re-signed after
	// InvalidNonce or an expired block hash. Many concurrent senders on one
	// key can overtake each other on the way to the node several times.
	maxNonceRetries = 12
)

type nonceKey struct {
	account string
	key     PublicKey
}

// nonceState is the last nonce used for one access key, shared by every
// Signer of a Client. The mutex serialises only nonce assignment (and the
// first fetch), not sending.
type nonceState struct {
	mu    sync.Mutex
	known bool
	last  uint64
}

func (c *Client) nonceFor(account string, key PublicKey) *nonceState {
	c.noncesMu.Lock()
	defer c.noncesMu.Unlock()
	k := nonceKey{account, key}
	s, ok := c.nonces[k]
	if !ok {
		s = &nonceState{}
		c.nonces[k] = s
	}
	return s
}

// Signer signs and sends transactions for one account with one access key.
// It is safe for concurrent use: each transaction gets a fresh nonce from a
// counter that is read from the chain once and then incremented locally, and
// a transaction rejected with InvalidNonce is re-signed with a nonce above the
// key's current one (taken from the error) and sent again.
type Signer struct {
	client    *Client
	account   string
	key       *KeyPair
	waitUntil TxExecutionStatus
	logger    *slog.Logger
}

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithWaitUntil sets the send_tx wait level (default FINAL, so that a view
// at the final block after a call sees the call's effects).
func WithWaitUntil(level TxExecutionStatus) SignerOption {
	return func(s *Signer) { s.waitUntil = level }
}

// WithSignerLogger sets the signer's logger.
func WithSignerLogger(l *slog.Logger) SignerOption { return func(s *Signer) { s.logger = l } }

// NewSigner returns a Signer for accountID using key.
func NewSigner(c *Client, accountID string, key *KeyPair, opts ...SignerOption) (*Signer, error) {
	if err := ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, errors.New("signer needs a key pair")
	}
	s := &Signer{client: c, account: accountID, key: key, waitUntil: TxFinal, logger: c.logger}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// AccountID is the signing account.
func (s *Signer) AccountID() string { return s.account }

// PublicKey is the signing key.
func (s *Signer) PublicKey() PublicKey { return s.key.PublicKey() }

// Client is the underlying client.
func (s *Signer) Client() *Client { return s.client }

// SendError is returned when a signed transaction could not be confirmed. It
// always carries the hash, so that after a timeout (the transaction may still
// land) the caller can ask TxStatus.
type SendError struct {
	TxHash CryptoHash
	Err    error
}

func (e *SendError) Error() string { return fmt.Sprintf("transaction %s: %v", e.TxHash, e.Err) }

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// nextNonce assigns the next nonce, fetching the key's nonce from the chain
// the first time.
func (s *Signer) nextNonce(ctx context.Context) (uint64, error) {
	st := s.client.nonceFor(s.account, s.key.PublicKey())
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.known {
		ak, err := s.client.ViewAccessKey(ctx, s.account, s.key.PublicKey(), Final())
		if err != nil {
			return 0, fmt.Errorf("reading the nonce of %s's key %s: %w", s.account, s.key.PublicKey(), err)
		}
		if ak.Nonce > st.last {
			st.last = ak.Nonce
		}
		st.known = true
	}
	st.last++
	return st.last, nil
}

// observeNonce raises the local counter to at least ak (from InvalidNonce).
func (s *Signer) observeNonce(ak uint64) {
	st := s.client.nonceFor(s.account, s.key.PublicKey())
	st.mu.Lock()
	if ak > st.last {
		st.last = ak
	}
	st.known = true
	st.mu.Unlock()
}

// forgetNonce makes the next transaction re-read the key's nonce.
func (s *Signer) forgetNonce() {
	st := s.client.nonceFor(s.account, s.key.PublicKey())
	st.mu.Lock()
	st.known, st.last = false, 0
	st.mu.Unlock()
}

// Sign builds and signs a transaction to receiver with a fresh nonce and a
// recent block hash, without sending it.
func (s *Signer) Sign(ctx context.Context, receiverID string, actions ...Action) (*SignedTransaction, error) {
	if err := ValidateAccountID(receiverID); err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	if len(actions) == 0 {
		return nil, errors.New("a transaction needs at least one action")
	}
	blockHash, err := s.client.RecentBlockHash(ctx)
	if err != nil {
		return nil, err
	}
	nonce, err := s.nextNonce(ctx)
	if err != nil {
		return nil, err
	}
	return s.key.SignTransaction(Transaction{
		SignerID: s.account, PublicKey: s.key.PublicKey(), Nonce: nonce,
		ReceiverID: receiverID, BlockHash: blockHash, Actions: actions,
	}), nil
}

// SignAndSend signs a transaction with the given actions, sends it and waits
// at the signer's level. InvalidNonce and an expired block hash are retried
// with a freshly signed transaction. If the transaction executed but failed,
// the outcome is returned together with its *TxExecutionError (so logs stay
// available); a transport failure or timeout is a *SendError with the hash.
func (s *Signer) SignAndSend(ctx context.Context, receiverID string, actions ...Action) (*FinalExecutionOutcome, error) {
	// A stale nonce, an expired block hash or a nonce counter ahead of the
	// chain is retried with a freshly signed transaction, after a short
	// random wait that spreads out concurrent senders overtaking each
	// other's nonces; anything else is final.
	var last *SignedTransaction
	out, err := backoff.Retry(ctx, func() (*FinalExecutionOutcome, error) {
		st, err := s.Sign(ctx, receiverID, actions...)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		last = st
		out, err := s.client.SendTx(ctx, st, s.waitUntil)
		if err == nil {
			return out, nil
		}
		var txErr *TxExecutionError
		if errors.As(err, &txErr) {
			if _, ak, ok := txErr.InvalidNonce(); ok {
				s.logger.Debug("near: nonce was stale, re-signing", "account", s.account, "ak_nonce", ak, "tx_nonce", st.Transaction.Nonce)
				s.observeNonce(ak)
				return nil, &SendError{TxHash: st.Hash(), Err: err}
			}
			switch txErr.Kind() {
			case "Expired", "InvalidChain":
				s.client.forgetBlockHash()
				return nil, &SendError{TxHash: st.Hash(), Err: err}
			case "NonceTooLarge":
				// Our counter ran ahead of the chain (e.g. a devchain that
				// was reset): read the key's nonce again.
				s.forgetNonce()
				return nil, &SendError{TxHash: st.Hash(), Err: err}
			}
		}
		return nil, backoff.Permanent(&SendError{TxHash: st.Hash(), Err: err})
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: time.Millisecond, RandomizationFactor: 1,
		Multiplier: 2, MaxInterval: 64 * time.Millisecond}),
		backoff.WithMaxTries(maxNonceRetries+1), backoff.WithMaxElapsedTime(0))
	if err != nil {
		var se *SendError
		if !errors.As(err, &se) && last != nil && ctx.Err() != nil {
			// Cancelled while waiting to re-sign.
			return nil, &SendError{TxHash: last.Hash(), Err: err}
		}
		return nil, err
	}
	return out, out.Err()
}

// CallFunction calls a contract method with JSON args (any value; []byte and
// json.RawMessage are sent as they are), gas (0 = 30 Tgas) and an attached
// deposit. Result and Logs of the returned outcome give the return value and
// the logs; a contract failure is returned as a *TxExecutionError whose
// message is NEAR's ("Smart contract panicked: …").
func (s *Signer) CallFunction(ctx context.Context, contract, method string, args any, gas uint64, deposit U128) (*FinalExecutionOutcome, error) {
	argBytes, err := jsonArgs(args)
	if err != nil {
		return nil, fmt.Errorf("call %s.%s: %w", contract, method, err)
	}
	if gas == 0 {
		gas = DefaultFunctionCallGas
	}
	out, err := s.SignAndSend(ctx, contract, FunctionCall{MethodName: method, Args: argBytes, Gas: gas, Deposit: deposit})
	if err != nil {
		return out, fmt.Errorf("call %s.%s: %w", contract, method, err)
	}
	return out, nil
}

// Transfer sends amount yoctoNEAR to receiver.
func (s *Signer) Transfer(ctx context.Context, receiverID string, amount U128) (*FinalExecutionOutcome, error) {
	return s.SignAndSend(ctx, receiverID, Transfer{Deposit: amount})
}

// CreateAccount creates newAccountID (a sub-account of the signer on real
// NEAR) with a full-access key and an initial balance.
func (s *Signer) CreateAccount(ctx context.Context, newAccountID string, key PublicKey, amount U128) (*FinalExecutionOutcome, error) {
	if err := ValidateAccountID(newAccountID); err != nil {
		return nil, err
	}
	return s.SignAndSend(ctx, newAccountID,
		CreateAccount{}, Transfer{Deposit: amount}, AddKey{PublicKey: key, AccessKey: FullAccessKey()})
}

// DeployContract deploys code to the signer's own account, optionally
// calling an init method in the same transaction (initMethod "" = none).
func (s *Signer) DeployContract(ctx context.Context, code []byte, initMethod string, initArgs any, gas uint64) (*FinalExecutionOutcome, error) {
	actions := []Action{DeployContract{Code: code}}
	if initMethod != "" {
		args, err := jsonArgs(initArgs)
		if err != nil {
			return nil, fmt.Errorf("init args: %w", err)
		}
		if gas == 0 {
			gas = DefaultFunctionCallGas
		}
		actions = append(actions, FunctionCall{MethodName: initMethod, Args: args, Gas: gas})
	}
	return s.SignAndSend(ctx, s.account, actions...)
}

// AddKey adds an access key to the signer's account.
func (s *Signer) AddKey(ctx context.Context, key PublicKey, ak AccessKey) (*FinalExecutionOutcome, error) {
	return s.SignAndSend(ctx, s.account, AddKey{PublicKey: key, AccessKey: ak})
}

// DeleteKey removes an access key from the signer's account.
func (s *Signer) DeleteKey(ctx context.Context, key PublicKey) (*FinalExecutionOutcome, error) {
	return s.SignAndSend(ctx, s.account, DeleteKey{PublicKey: key})
}
