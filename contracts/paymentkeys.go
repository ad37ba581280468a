package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/outlayer/outlayer/contracts/near"
)

// Payment keys: prepaid keys for the HTTPS API (upstream HEAD §3), created,
// topped up and deleted on chain.
//
// A key is "<owner>:<nonce>:<secret>" (the X-Payment-Key header). The owner
// creates it with create_payment_key, giving only the SHA-256 of the secret
// (PaymentKeyHash); the secret itself never reaches the chain or the
// cluster's logs. Top-ups arrive as NEP-141 ft_transfer_call of the payment
// token to the OutLayer contract with msg
// {"action":"top_up_payment_key","nonce":N,"owner"?:"…"}; the contract
// keeps the tokens and adds the amount to the key's initial_balance (the
// total ever topped up, in the token's minimal units). What a key has spent
// is the cluster's to track: balance = initial_balance − spent − reserved.
//
// The cluster follows keys through the events below (standard
// near-outlayer) and, authoritatively, through the views: every change
// bumps get_payment_keys_seq, and list_payment_keys pages every live key in
// creation order.

// Payment key methods of the OutLayer contract.
const (
	MethodCreatePaymentKey                 = "create_payment_key"
	MethodDeletePaymentKey                 = "delete_payment_key"
	MethodFtOnTransfer                     = "ft_on_transfer"
	MethodTopUpPaymentKeyWithNear          = "top_up_payment_key_with_near"
	MethodSetPaymentTokenContract          = "set_payment_token_contract"
	MethodWithdrawPaymentTokens            = "withdraw_payment_tokens"
	MethodGetPaymentKey                    = "get_payment_key"
	MethodListPaymentKeys                  = "list_payment_keys"
	MethodListUserPaymentKeys              = "list_user_payment_keys"
	MethodGetNextPaymentKeyNonce           = "get_next_payment_key_nonce"
	MethodGetPaymentTokenContract          = "get_payment_token_contract"
	MethodGetPaymentKeysSeq                = "get_payment_keys_seq"
	MethodGetPaymentTokenAccounting        = "get_payment_token_accounting"
	FtActionTopUpPaymentKey                = "top_up_payment_key"
	PaymentKeyEventCreated                 = "payment_key_created"
	PaymentKeyEventToppedUp                = "payment_key_topped_up"
	PaymentKeyEventDeleted                 = "payment_key_deleted"
	PaymentTokenEventWithdrawn             = "payment_tokens_withdrawn"
	MaxPaymentKeyNonce              uint32 = 1<<31 - 1
	// MaxPaymentKeyProjects is the most project ids one key may be limited to.
	MaxPaymentKeyProjects = 32
)

// MinTopUpAmount is the smallest top-up, in the token's minimal units
// (upstream's MIN_TOP_UP_AMOUNT: $0.01 of a 6-decimal stablecoin).
var MinTopUpAmount = near.U128{Lo: 10_000}

// PaymentKeySecretHexLen is the secret's length: 64 hex characters (32
// random bytes), as upstream's dashboard makes them.
const PaymentKeySecretHexLen = 64

// PaymentKey is a parsed X-Payment-Key value.
type PaymentKey struct {
	Owner  string
	Nonce  uint32
	Secret string // 64 hex characters, lower case after parsing
}

// ParsePaymentKey splits "<owner>:<nonce>:<secret>" on the first two ':'
// and checks each part as upstream's coordinator does: owner 1–64
// characters and a valid account id, nonce a u32 ≥ 1, secret exactly 64 hex
// characters (lower-cased). Errors never contain the secret.
func ParsePaymentKey(s string) (PaymentKey, error) {
	owner, rest, ok := strings.Cut(s, ":")
	if !ok {
		return PaymentKey{}, errors.New("expected <owner>:<nonce>:<secret>")
	}
	nonceStr, secret, ok := strings.Cut(rest, ":")
	if !ok {
		return PaymentKey{}, errors.New("expected <owner>:<nonce>:<secret>")
	}
	if err := near.ValidateAccountID(owner); err != nil {
		return PaymentKey{}, fmt.Errorf("owner: %w", err)
	}
	n, err := strconv.ParseUint(nonceStr, 10, 32)
	if err != nil || n == 0 {
		return PaymentKey{}, fmt.Errorf("nonce %q is not an integer from 1 to %d", nonceStr, uint32(1<<32-1))
	}
	if len(secret) != PaymentKeySecretHexLen {
		return PaymentKey{}, fmt.Errorf("the secret must be %d hex characters, got %d characters", PaymentKeySecretHexLen, len(secret))
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return PaymentKey{}, errors.New("the secret must be hex")
	}
	return PaymentKey{Owner: owner, Nonce: uint32(n), Secret: strings.ToLower(secret)}, nil
}

// String is the header value. It contains the secret: never log it.
func (k PaymentKey) String() string {
	return k.Owner + ":" + strconv.FormatUint(uint64(k.Nonce), 10) + ":" + k.Secret
}

// Hash is the key hash the contract stores (PaymentKeyHash of the secret).
func (k PaymentKey) Hash() string { return PaymentKeyHash(k.Secret) }

// PaymentKeyHash is upstream's key_hash: lowercase hex of SHA-256 of the
// lower-cased secret's UTF-8 bytes.
func PaymentKeyHash(secret string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(secret)))
	return hex.EncodeToString(sum[:])
}

// CreatePaymentKeyArgs are create_payment_key's arguments (payable: the
// deposit must cover the key's storage; the excess is refunded). Nonce nil
// takes get_next_payment_key_nonce; a given nonce must be above every nonce
// the owner used before, so a deleted key's nonce is never reused.
// ProjectIDs empty allows every project; MaxPerCall nil or "0" means no
// per-call limit.
type CreatePaymentKeyArgs struct {
	Nonce      *uint32    `json:"nonce,omitempty"`
	KeyHash    string     `json:"key_hash"`
	ProjectIDs []string   `json:"project_ids,omitempty"`
	MaxPerCall *near.U128 `json:"max_per_call,omitempty"`
}

// NonceArgs name one of the caller's keys (delete_payment_key, which needs
// at least 1 yoctoNEAR attached, as upstream).
type NonceArgs struct {
	Nonce uint32 `json:"nonce"`
}

// PaymentKeyArgs are get_payment_key's arguments.
type PaymentKeyArgs struct {
	Owner string `json:"owner"`
	Nonce uint32 `json:"nonce"`
}

// AccountArgs name an account (list_user_payment_keys,
// get_next_payment_key_nonce).
type AccountArgs struct {
	AccountID string `json:"account_id"`
}

// ListPaymentKeysArgs page list_payment_keys: FromIndex is a key id
// (inclusive, PaymentKeyView.ID), Limit defaults to 50 and is capped at 100.
type ListPaymentKeysArgs struct {
	FromIndex *uint64 `json:"from_index,omitempty"`
	Limit     *uint64 `json:"limit,omitempty"`
}

// SetPaymentTokenContractArgs are the owner's set_payment_token_contract
// arguments (nil turns token top-ups off).
type SetPaymentTokenContractArgs struct {
	TokenContract *string `json:"token_contract"`
}

// WithdrawPaymentTokensArgs are the owner's withdraw_payment_tokens
// arguments (1 yoctoNEAR attached): Amount (all not yet withdrawn by
// default) goes to ReceiverID (the owner by default) by ft_transfer.
type WithdrawPaymentTokensArgs struct {
	Amount     *near.U128 `json:"amount,omitempty"`
	ReceiverID string     `json:"receiver_id,omitempty"`
}

// FtTransferCallArgs are a NEP-141 token's ft_transfer_call arguments (1
// yoctoNEAR attached).
type FtTransferCallArgs struct {
	ReceiverID string    `json:"receiver_id"`
	Amount     near.U128 `json:"amount"`
	Memo       *string   `json:"memo,omitempty"`
	Msg        string    `json:"msg"`
}

// TopUpMsg is the ft_transfer_call msg that tops up a payment key. Owner
// defaults to the token sender; set it to top up someone else's key.
type TopUpMsg struct {
	Action string `json:"action"` // FtActionTopUpPaymentKey
	Nonce  uint32 `json:"nonce"`
	Owner  string `json:"owner,omitempty"`
}

// PaymentKeyView is get_payment_key's result (and each entry of the lists).
type PaymentKeyView struct {
	// ID orders keys by creation; list_payment_keys pages by it.
	ID      uint64 `json:"id"`
	Owner   string `json:"owner"`
	Nonce   uint32 `json:"nonce"`
	KeyHash string `json:"key_hash"`
	// ProjectIDs limits the key to these projects; empty allows all.
	ProjectIDs []string `json:"project_ids"`
	// MaxPerCall caps compute limit + attached deposit per call; 0: none.
	MaxPerCall near.U128 `json:"max_per_call"`
	// InitialBalance is the total ever topped up (upstream's name).
	InitialBalance near.U128 `json:"initial_balance"`
	// TopUps counts the top-ups; with InitialBalance it lets a watcher
	// notice a change it missed.
	TopUps         uint64    `json:"top_ups"`
	CreatedAt      uint64    `json:"created_at"`
	UpdatedAt      uint64    `json:"updated_at"`
	StorageDeposit near.U128 `json:"storage_deposit"`
}

// PaymentTokenAccounting is get_payment_token_accounting's result: the
// tokens received through top-ups and withdrawn by the owner.
type PaymentTokenAccounting struct {
	TokenContract *string   `json:"token_contract"`
	Received      near.U128 `json:"received"`
	Withdrawn     near.U128 `json:"withdrawn"`
}

// PaymentKeyCreated is the payment_key_created event's data.
type PaymentKeyCreated struct {
	ID             uint64    `json:"id"`
	Owner          string    `json:"owner"`
	Nonce          uint32    `json:"nonce"`
	KeyHash        string    `json:"key_hash"`
	ProjectIDs     []string  `json:"project_ids"`
	MaxPerCall     near.U128 `json:"max_per_call"`
	StorageDeposit near.U128 `json:"storage_deposit"`
	Seq            uint64    `json:"seq"`
}

// PaymentKeyToppedUp is the payment_key_topped_up event's data: Amount
// arrived from SenderID through Token; InitialBalance is the new total.
type PaymentKeyToppedUp struct {
	ID             uint64    `json:"id"`
	Owner          string    `json:"owner"`
	Nonce          uint32    `json:"nonce"`
	Amount         near.U128 `json:"amount"`
	InitialBalance near.U128 `json:"initial_balance"`
	Token          string    `json:"token"`
	SenderID       string    `json:"sender_id"`
	Seq            uint64    `json:"seq"`
}

// PaymentKeyDeleted is the payment_key_deleted event's data. The unspent
// balance is not refunded on chain (the chain does not know what was
// spent), as upstream.
type PaymentKeyDeleted struct {
	ID             uint64    `json:"id"`
	Owner          string    `json:"owner"`
	Nonce          uint32    `json:"nonce"`
	KeyHash        string    `json:"key_hash"`
	InitialBalance near.U128 `json:"initial_balance"`
	Refunded       near.U128 `json:"refunded"` // the storage deposit, yoctoNEAR
	Seq            uint64    `json:"seq"`
}

// PaymentTokensWithdrawn is logged by withdraw_payment_tokens.
type PaymentTokensWithdrawn struct {
	ReceiverID string    `json:"receiver_id"`
	Amount     near.U128 `json:"amount"`
}
