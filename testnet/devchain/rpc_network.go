package devchain

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// This file answers the RPC methods that describe the chain rather than its
// state: EXPERIMENTAL_protocol_config, EXPERIMENTAL_genesis_config,
// validators, health and network_info. The shapes are nearcore's; the values
// are the devchain's (one validator, one shard, its fees and limits).

// feeView is nearcore's Fee JSON: send_sir, send_not_sir and execution.
func feeView(f vm.Fee) map[string]any {
	return map[string]any{"send_sir": f.Send, "send_not_sir": f.Send, "execution": f.Exec}
}

func (c *Chain) runtimeConfigView() map[string]any {
	return map[string]any{
		"storage_amount_per_byte": strconv.FormatUint(storageAmountPerByte, 10),
		"account_creation_config": map[string]any{"min_allowed_top_level_account_length": 65, "registrar_account_id": registrarAccount},
		"transaction_costs": map[string]any{
			"action_receipt_creation_config": feeView(vm.FeeActionReceipt),
			"data_receipt_creation_config": map[string]any{
				"base_cost": feeView(vm.FeeDataReceiptBase), "cost_per_byte": feeView(vm.FeeDataReceiptByte),
			},
			"action_creation_config": map[string]any{
				"create_account_cost":           feeView(vm.FeeCreateAccount),
				"deploy_contract_cost":          feeView(vm.FeeDeployBase),
				"deploy_contract_cost_per_byte": feeView(vm.FeeDeployByte),
				"function_call_cost":            feeView(vm.FeeFunctionCallBase),
				"function_call_cost_per_byte":   feeView(vm.FeeFunctionCallByte),
				"transfer_cost":                 feeView(vm.FeeTransfer),
				"stake_cost":                    feeView(vm.FeeStake),
				"add_key_cost":                  map[string]any{"full_access_cost": feeView(vm.FeeAddKeyFull), "function_call_cost": feeView(vm.FeeAddKeyFuncCall), "function_call_cost_per_byte": feeView(vm.FeeAddKeyFuncCallPer)},
				"delete_key_cost":               feeView(vm.FeeDeleteKey),
				"delete_account_cost":           feeView(vm.FeeDeleteAccount),
				"delegate_cost":                 feeView(vm.FeeDelegate),
			},
			"storage_usage_config":                  map[string]any{"num_bytes_account": storageAccountBytes, "num_extra_bytes_record": storageExtraBytes},
			"burnt_gas_reward":                      []int{3, 10},
			"pessimistic_gas_price_inflation_ratio": []int{103, 100},
		},
		"wasm_config": map[string]any{
			"regular_op_cost": vm.InstructionGas,
			"grow_mem_cost":   1,
			"limit_config": map[string]any{
				"max_gas_burnt":                      c.cfg.MaxPrepaidGas,
				"max_total_prepaid_gas":              c.cfg.MaxPrepaidGas,
				"max_memory_pages":                   2048,
				"max_actions_per_receipt":            maxActionsPerTransaction,
				"max_number_input_data_dependencies": 128,
				"max_contract_size":                  4 << 20,
				"max_arguments_length":               4 << 20,
				"max_length_method_name":             256,
				"max_transaction_size":               maxTransactionSize,
				"max_yield_payload_size":             vm.MaxYieldPayload,
				"yield_timeout_length_in_blocks":     c.cfg.YieldTimeout,
			},
		},
	}
}

// genesisFields are the fields EXPERIMENTAL_protocol_config and
// EXPERIMENTAL_genesis_config share.
func (c *Chain) genesisFields() map[string]any {
	return map[string]any{
		"chain_id":                             c.cfg.ChainID,
		"genesis_height":                       genesisHeight,
		"genesis_time":                         time.Unix(0, int64(c.genesisTime)).UTC().Format(time.RFC3339Nano),
		"protocol_version":                     protocolVersion,
		"epoch_length":                         epochLength,
		"transaction_validity_period":          transactionValidityPeriod,
		"gas_limit":                            1_000_000_000_000_000,
		"min_gas_price":                        strconv.FormatUint(GasPrice, 10),
		"max_gas_price":                        "10000000000000000000000",
		"gas_price_adjustment_rate":            []int{1, 100},
		"num_block_producer_seats":             1,
		"num_block_producer_seats_per_shard":   []int{1},
		"avg_hidden_validator_seats_per_shard": []int{0},
		"block_producer_kickout_threshold":     80,
		"chunk_producer_kickout_threshold":     80,
		"online_min_threshold":                 []int{9, 10},
		"online_max_threshold":                 []int{99, 100},
		"fishermen_threshold":                  "340282366920938463463374607431768211455",
		"minimum_stake_divisor":                10,
		"minimum_stake_ratio":                  []int{1, 6250},
		"minimum_validators_per_shard":         1,
		"num_blocks_per_year":                  31_536_000,
		"max_inflation_rate":                   []int{0, 1},
		"protocol_reward_rate":                 []int{0, 1},
		"protocol_treasury_account":            c.cfg.RootAccount,
		"protocol_upgrade_stake_threshold":     []int{4, 5},
		"dynamic_resharding":                   false,
		"shard_layout":                         map[string]any{"V0": map[string]any{"num_shards": 1, "version": 0}},
	}
}

func (c *Chain) rpcProtocolConfig(params json.RawMessage) (any, *rpcError) {
	ref, rerr := parseBlockRef(params, "EXPERIMENTAL_protocol_config")
	if rerr != nil {
		return nil, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, rerr := c.resolveBlock(ref); rerr != nil {
		return nil, rerr
	}
	v := c.genesisFields()
	v["runtime_config"] = c.runtimeConfigView()
	return v, nil
}

func (c *Chain) rpcGenesisConfig() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.genesisFields()
	v["total_supply"] = c.cfg.RootBalance.String()
	v["validators"] = []map[string]any{{"account_id": c.cfg.RootAccount, "public_key": c.rootKey.PublicKey().String(), "amount": "0"}}
	v["records"] = []any{} // nearcore leaves the records out of this view too
	return v
}

// rpcValidators is the validators of the only epoch: the root account, with
// every block so far produced by it.
func (c *Chain) rpcValidators(params json.RawMessage) (any, *rpcError) {
	var ref near.BlockReference
	if len(params) > 0 && string(params) != "null" && string(params) != "[null]" {
		var p struct {
			BlockID *near.BlockID    `json:"block_id"`
			EpochID *near.CryptoHash `json:"epoch_id"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			var err2 *rpcError
			if ref, err2 = parseBlockRef(params, "validators"); err2 != nil {
				return nil, err2
			}
		} else {
			ref.BlockID = p.BlockID
			if p.EpochID != nil && !p.EpochID.IsZero() {
				return nil, handlerError("UNKNOWN_EPOCH", nil, "Epoch not found: the devchain has one epoch, whose id is 11111111111111111111111111111111")
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(ref)
	if rerr != nil {
		return nil, rerr
	}
	produced := b.Height - genesisHeight + 1
	v := map[string]any{
		"account_id": c.cfg.RootAccount, "public_key": c.rootKey.PublicKey().String(), "is_slashed": false,
		"stake": "0", "shards": []int{0}, "shards_produced": []int{0}, "shards_endorsed": []int{0},
		"num_produced_blocks": produced, "num_expected_blocks": produced,
		"num_produced_chunks": produced, "num_expected_chunks": produced,
		"num_produced_chunks_per_shard": []uint64{produced}, "num_expected_chunks_per_shard": []uint64{produced},
		"num_produced_endorsements": 0, "num_expected_endorsements": 0,
		"num_produced_endorsements_per_shard": []int{0}, "num_expected_endorsements_per_shard": []int{0},
	}
	next := map[string]any{"account_id": c.cfg.RootAccount, "public_key": c.rootKey.PublicKey().String(), "stake": "0", "shards": []int{0}}
	return map[string]any{
		"current_validators": []any{v}, "next_validators": []any{next},
		"current_fishermen": []any{}, "next_fishermen": []any{}, "current_proposals": []any{}, "prev_epoch_kickout": []any{},
		"epoch_start_height": genesisHeight, "epoch_height": b.Height/epochLength + 1,
	}, nil
}

func (c *Chain) rpcNetworkInfo() any {
	return map[string]any{
		"active_peers": []any{}, "num_active_peers": 0, "peer_max_count": 0,
		"sent_bytes_per_sec": 0, "received_bytes_per_sec": 0, "known_producers": []any{},
	}
}
