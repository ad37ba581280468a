package exec

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outlayer/outlayer/exec/hostabi"
)

// Request is everything one run depends on. Two runs of equal Requests
// produce the same Result bytes and instruction count (the wall time aside).
type Request struct {
	// Wasm is the program: a WASI preview 1 command module.
	Wasm []byte
	// WasmSHA256 is the sha256 of Wasm, when the caller already knows it
	// (it fetched the blob by hash and checked it). It keys the module
	// cache; when zero the runner hashes Wasm itself. A wrong value here
	// poisons the cache, so pass it only if it was verified.
	WasmSHA256 [32]byte
	// Input is given to the program on stdin (at most MaxInputBytes).
	Input []byte
	// Format is how stdout is interpreted; the zero value is Text.
	Format Format
	// Limits bound the run; zero fields take the defaults.
	Limits Limits
	// Context is the NEAR context, given to the program as NEAR_* variables.
	Context Context
	// Secrets are the request's decrypted secrets, given to the program as
	// environment variables. Names starting with "NEAR_" are reserved for
	// the system and refused (ErrBadRequest).
	Secrets map[string]string
	// Timestamp is where the program's clock starts. When zero, the clock
	// starts at Context.BlockTimestamp; when that is zero too, at the Unix
	// epoch. Either way it is a function of the request, never of the node.
	Timestamp time.Time
	// Seed keys the program's random numbers (random_get). Nodes derive it
	// from the keystore master and the request (daemon/keystore
	// RequestSeed), so they agree and nobody else knows it.
	Seed [32]byte
	// Host answers the program's calls to the outlayer_v1 host functions
	// (exec/hostabi): HTTP, storage, VRF, chain views. Nil answers every
	// call Unavailable. It always runs in this process: an isolated run's
	// calls cross the sandbox pipe to it. (A func field: gob leaves it out
	// of what is sent to the sandbox.)
	Host hostabi.Handler
}

// Context is the NEAR context of a request, exposed to the program in the
// environment under upstream's variable names. Empty strings and zero
// numbers are left out of the environment, as upstream does; RequestID and
// the limits are always set.
type Context struct {
	RequestID       uint64 `json:"request_id"`        // NEAR_REQUEST_ID
	SenderID        string `json:"sender_id"`         // NEAR_SENDER_ID
	ContractID      string `json:"contract_id"`       // NEAR_CONTRACT_ID
	BlockHeight     uint64 `json:"block_height"`      // NEAR_BLOCK_HEIGHT
	BlockTimestamp  uint64 `json:"block_timestamp"`   // NEAR_BLOCK_TIMESTAMP, nanoseconds
	ReceiptID       string `json:"receipt_id"`        // NEAR_RECEIPT_ID
	PredecessorID   string `json:"predecessor_id"`    // NEAR_PREDECESSOR_ID
	SignerPublicKey string `json:"signer_public_key"` // NEAR_SIGNER_PUBLIC_KEY
	GasBurnt        uint64 `json:"gas_burnt"`         // NEAR_GAS_BURNT
	UserAccountID   string `json:"user_account_id"`   // NEAR_USER_ACCOUNT_ID
	PaymentYocto    string `json:"payment_yocto"`     // NEAR_PAYMENT_YOCTO, a decimal u128
	TransactionHash string `json:"transaction_hash"`  // NEAR_TRANSACTION_HASH
	// Upstream HEAD's OUTLAYER_* variables, each left out when empty.
	ExecutionType string `json:"execution_type,omitempty"` // OUTLAYER_EXECUTION_TYPE: NEAR or HTTPS
	CallID        string `json:"call_id,omitempty"`        // OUTLAYER_CALL_ID (HTTPS calls)
	// ProjectID is "<owner>/<name>": OUTLAYER_PROJECT_ID, and split at the
	// first '/', OUTLAYER_PROJECT_OWNER and OUTLAYER_PROJECT_NAME.
	ProjectID   string `json:"project_id,omitempty"`
	ProjectUUID string `json:"project_uuid,omitempty"` // OUTLAYER_PROJECT_UUID
}

// systemEnvNames are the OUTLAYER_* variables the system sets; a secret
// may not use them (upstream reserves them too).
var systemEnvNames = []string{"OUTLAYER_EXECUTION_TYPE", "OUTLAYER_CALL_ID", "OUTLAYER_PROJECT_ID",
	"OUTLAYER_PROJECT_OWNER", "OUTLAYER_PROJECT_NAME", "OUTLAYER_PROJECT_UUID"}

// IsReservedEnvName reports whether a secret may not be called name: the
// NEAR_* prefix and the OUTLAYER_* names the system sets.
func IsReservedEnvName(name string) bool {
	u := strings.ToUpper(name)
	return strings.HasPrefix(u, ReservedEnvPrefix) || slices.Contains(systemEnvNames, u)
}

// ReservedEnvPrefix marks the environment variables the system sets; a
// secret may not use it.
const ReservedEnvPrefix = "NEAR_"

type envVar struct{ key, value string }

// environment builds the program's environment: the system variables first
// (in a fixed order), then the secrets sorted by name. The order is part of
// what a program can observe, so it must not depend on map iteration.
func (r *Request) environment(l Limits) ([]envVar, error) {
	c := r.Context
	env := make([]envVar, 0, 16+len(r.Secrets))
	addString := func(k, v string) {
		if v != "" {
			env = append(env, envVar{k, v})
		}
	}
	addUint := func(k string, v uint64) {
		if v != 0 {
			env = append(env, envVar{k, strconv.FormatUint(v, 10)})
		}
	}
	addString("NEAR_SENDER_ID", c.SenderID)
	addString("NEAR_CONTRACT_ID", c.ContractID)
	addUint("NEAR_BLOCK_HEIGHT", c.BlockHeight)
	addUint("NEAR_BLOCK_TIMESTAMP", c.BlockTimestamp)
	addString("NEAR_RECEIPT_ID", c.ReceiptID)
	addString("NEAR_PREDECESSOR_ID", c.PredecessorID)
	addString("NEAR_SIGNER_PUBLIC_KEY", c.SignerPublicKey)
	addUint("NEAR_GAS_BURNT", c.GasBurnt)
	addString("NEAR_USER_ACCOUNT_ID", c.UserAccountID)
	addString("NEAR_PAYMENT_YOCTO", c.PaymentYocto)
	addString("NEAR_TRANSACTION_HASH", c.TransactionHash)
	addString("OUTLAYER_EXECUTION_TYPE", c.ExecutionType)
	addString("OUTLAYER_CALL_ID", c.CallID)
	if c.ProjectID != "" {
		owner, name, _ := strings.Cut(c.ProjectID, "/")
		addString("OUTLAYER_PROJECT_ID", c.ProjectID)
		addString("OUTLAYER_PROJECT_OWNER", owner)
		addString("OUTLAYER_PROJECT_NAME", name)
	}
	addString("OUTLAYER_PROJECT_UUID", c.ProjectUUID)
	env = append(env,
		envVar{"NEAR_MAX_INSTRUCTIONS", strconv.FormatUint(l.MaxInstructions, 10)},
		envVar{"NEAR_MAX_MEMORY_MB", strconv.FormatUint(uint64(l.MaxMemoryMB), 10)},
		envVar{"NEAR_MAX_EXECUTION_SECONDS", strconv.FormatUint(l.timeoutSeconds(), 10)},
		envVar{"NEAR_REQUEST_ID", strconv.FormatUint(c.RequestID, 10)},
	)
	for _, kv := range env {
		if err := checkEnvValue(kv.key, kv.value); err != nil {
			return nil, failure(ErrBadRequest, "context variable %s: %v", kv.key, err)
		}
	}

	names := make([]string, 0, len(r.Secrets))
	for name := range r.Secrets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := checkSecretName(name); err != nil {
			return nil, failure(ErrBadRequest, "secret %q: %v", name, err)
		}
		if err := checkEnvValue(name, r.Secrets[name]); err != nil {
			return nil, failure(ErrBadRequest, "secret %q: %v", name, err)
		}
		env = append(env, envVar{name, r.Secrets[name]})
	}

	size := 0
	for _, kv := range env {
		size += len(kv.key) + 1 + len(kv.value) + 1
	}
	if size > MaxEnvBytes {
		return nil, failure(ErrBadRequest, "the environment (context variables and secrets) is %d bytes, above the cap of %d", size, MaxEnvBytes)
	}
	return env, nil
}

func checkSecretName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a secret needs a name")
	case IsReservedEnvName(name):
		return fmt.Errorf("names starting with %s and the OUTLAYER_* names the system sets are reserved for its context variables", ReservedEnvPrefix)
	case strings.ContainsAny(name, "=\x00"):
		return fmt.Errorf("an environment variable name cannot contain '=' or a NUL byte")
	}
	return nil
}

func checkEnvValue(_, value string) error {
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Errorf("an environment variable value cannot contain a NUL byte")
	}
	return nil
}

// clockStart is the request's wall-clock start in Unix nanoseconds.
func (r *Request) clockStart() int64 {
	if !r.Timestamp.IsZero() {
		return r.Timestamp.UnixNano()
	}
	if r.Context.BlockTimestamp != 0 && r.Context.BlockTimestamp <= 1<<63-1 {
		return int64(r.Context.BlockTimestamp)
	}
	return 0
}

func (r *Request) wasmKey() [32]byte {
	if r.WasmSHA256 != ([32]byte{}) {
		return r.WasmSHA256
	}
	return sha256.Sum256(r.Wasm)
}
