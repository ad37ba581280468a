package devchain

import (
	"encoding/json"
	"fmt"

	"github.com/outlayer/outlayer/contracts/near"
)

// This file answers the methods near-jsonrpc-client (near-cli-rs's RPC
// client) wraps beyond the ones near-api-js uses: the light-client pair,
// EXPERIMENTAL_validators_ordered and gas_price at a given block. The
// light-client methods answer with nearcore's errors: the devchain keeps no
// merkle trees and signs no blocks, so it has nothing a light client could
// verify, and it says so rather than sending unverifiable data.

// noProofs is the INTERNAL_ERROR text of the light-client methods.
const noProofs = "the devchain keeps no merkle trees and signs no blocks, so it cannot serve light-client data (outcome proofs are empty; see testnet/devchain/DESIGN.md)"

// rpcLightClientProof is light_client_proof (and its EXPERIMENTAL_ name):
// {"type": "transaction", "transaction_hash", "sender_id"} or {"type":
// "receipt", "receipt_id", "receiver_id"}, plus "light_client_head".
func (c *Chain) rpcLightClientProof(params json.RawMessage) (any, *rpcError) {
	var p struct {
		Type            string          `json:"type"`
		TransactionHash near.CryptoHash `json:"transaction_hash"`
		SenderID        string          `json:"sender_id"`
		ReceiptID       near.CryptoHash `json:"receipt_id"`
		ReceiverID      string          `json:"receiver_id"`
		LightClientHead near.CryptoHash `json:"light_client_head"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, parseError("light_client_proof params: %v", err)
	}
	var id map[string]any
	switch p.Type {
	case "transaction":
		id = map[string]any{"type": "transaction", "transaction_hash": p.TransactionHash.String(), "sender_id": p.SenderID}
	case "receipt":
		id = map[string]any{"type": "receipt", "receipt_id": p.ReceiptID.String(), "receiver_id": p.ReceiverID}
	default:
		return nil, parseError("light_client_proof params: unknown type %q (want transaction or receipt)", p.Type)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blockByHash(p.LightClientHead) == nil {
		return nil, unknownBlockHash(p.LightClientHead)
	}
	known := false
	if p.Type == "transaction" {
		tx := c.txs[p.TransactionHash]
		known = tx != nil && tx.included && tx.signed.Transaction.SignerID == p.SenderID
	} else {
		r := c.receipts[p.ReceiptID]
		known = r != nil && !r.IsData && r.Receiver == p.ReceiverID && c.outcomes[p.ReceiptID] != nil
	}
	if !known {
		return nil, handlerError("UNKNOWN_TRANSACTION_OR_RECEIPT", map[string]any{"transaction_or_receipt_id": id},
			fmt.Sprintf("%s %v does not exist", p.Type, id))
	}
	return nil, near.NewInternalError(noProofs)
}

// rpcNextLightClientBlock is next_light_client_block {"last_block_hash"}.
func (c *Chain) rpcNextLightClientBlock(params json.RawMessage) (any, *rpcError) {
	var p struct {
		LastBlockHash near.CryptoHash `json:"last_block_hash"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		var arr []near.CryptoHash
		if json.Unmarshal(params, &arr) != nil || len(arr) != 1 {
			return nil, parseError("next_light_client_block params: %v", err)
		}
		p.LastBlockHash = arr[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blockByHash(p.LastBlockHash) == nil {
		return nil, unknownBlockHash(p.LastBlockHash)
	}
	return nil, near.NewInternalError(noProofs)
}

// rpcLightClientBlockProof is EXPERIMENTAL_light_client_block_proof
// {"block_hash", "light_client_head"}.
func (c *Chain) rpcLightClientBlockProof(params json.RawMessage) (any, *rpcError) {
	var p struct {
		BlockHash       near.CryptoHash `json:"block_hash"`
		LightClientHead near.CryptoHash `json:"light_client_head"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, parseError("EXPERIMENTAL_light_client_block_proof params: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range []near.CryptoHash{p.BlockHash, p.LightClientHead} {
		if c.blockByHash(h) == nil {
			return nil, unknownBlockHash(h)
		}
	}
	return nil, near.NewInternalError(noProofs)
}

func unknownBlockHash(h near.CryptoHash) *rpcError {
	return handlerError("UNKNOWN_BLOCK", map[string]any{"error_message": fmt.Sprintf("BLOCK: %s", h)},
		fmt.Sprintf("DB Not Found Error: BLOCK: %s", h))
}

// rpcValidatorsOrdered is EXPERIMENTAL_validators_ordered: the block
// producers of the block's epoch as ValidatorStakeView V1 (one, the root).
func (c *Chain) rpcValidatorsOrdered(params json.RawMessage) (any, *rpcError) {
	ref, rerr := parseBlockIDParams(params, "EXPERIMENTAL_validators_ordered")
	if rerr != nil {
		return nil, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, rerr := c.resolveBlock(ref); rerr != nil {
		return nil, rerr
	}
	return []map[string]any{{"validator_stake_struct_version": "V1", "account_id": c.cfg.RootAccount,
		"public_key": c.rootKey.PublicKey().String(), "stake": "0"}}, nil
}

// rpcGasPrice is gas_price: [block_id], [null] or {"block_id"}. The price is
// constant, but an unknown block is still an error, as on nearcore.
func (c *Chain) rpcGasPrice(params json.RawMessage) (any, *rpcError) {
	ref, rerr := parseBlockIDParams(params, "gas_price")
	if rerr != nil {
		return nil, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, rerr := c.resolveBlock(ref); rerr != nil {
		return nil, rerr
	}
	return near.GasPriceResult{GasPrice: near.NewU128(GasPrice)}, nil
}

// parseBlockIDParams reads the optional block id of gas_price and
// EXPERIMENTAL_validators_ordered: [block_id], [null], {"block_id"} or
// nothing (the head).
func parseBlockIDParams(params json.RawMessage, what string) (near.BlockReference, *rpcError) {
	var ref near.BlockReference
	if len(params) == 0 || string(params) == "null" {
		return ref, nil
	}
	var arr []*near.BlockID
	if err := json.Unmarshal(params, &arr); err == nil {
		if len(arr) > 1 {
			return ref, parseError("%s params: want [block_id] or [null], got %d values", what, len(arr))
		}
		if len(arr) == 1 {
			ref.BlockID = arr[0]
		}
		return ref, nil
	}
	var obj struct {
		BlockID *near.BlockID `json:"block_id"`
	}
	if err := json.Unmarshal(params, &obj); err != nil {
		return ref, parseError("%s params: %v (want [block_id], [null] or {\"block_id\": …})", what, err)
	}
	ref.BlockID = obj.BlockID
	return ref, nil
}
