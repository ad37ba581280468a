package devchain

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/outlayer/outlayer/contracts/near"
)

// EXPERIMENTAL_changes and EXPERIMENTAL_changes_in_block: a block's state
// changes (history.go) in nearcore's StateChangeWithCauseView shapes.

func causeView(c changeCause) map[string]any {
	switch {
	case c.txHash != nil:
		return map[string]any{"type": "transaction_processing", "tx_hash": c.txHash.String()}
	case c.receiptID != nil:
		return map[string]any{"type": "receipt_processing", "receipt_hash": c.receiptID.String()}
	}
	return map[string]any{"type": "initial_state"}
}

// changeView is one change as EXPERIMENTAL_changes lists it.
func (c *Chain) changeView(ch *stateChange) map[string]any {
	id := ch.key.account
	var typ string
	var body map[string]any
	switch ch.key.kind {
	case changeAccount:
		if !ch.after.exists {
			typ, body = "account_deletion", map[string]any{"account_id": id}
			break
		}
		a := ch.after.account
		typ, body = "account_update", map[string]any{"account_id": id, "amount": a.Amount.String(), "locked": a.Locked.String(),
			"code_hash": a.CodeHash.String(), "storage_usage": a.StorageUsage, "storage_paid_at": 0}
	case changeAccessKey:
		if !ch.after.exists {
			typ, body = "access_key_deletion", map[string]any{"account_id": id, "public_key": ch.key.key}
			break
		}
		typ, body = "access_key_update", map[string]any{"account_id": id, "public_key": ch.key.key, "access_key": accessKeyView(ch.after.key)}
	case changeData:
		k := base64.StdEncoding.EncodeToString([]byte(ch.key.key))
		if !ch.after.exists {
			typ, body = "data_deletion", map[string]any{"account_id": id, "key_base64": k}
			break
		}
		typ, body = "data_update", map[string]any{"account_id": id, "key_base64": k, "value_base64": base64.StdEncoding.EncodeToString(ch.after.data)}
	}
	return map[string]any{"cause": causeView(ch.cause), "type": typ, "change": body}
}

// codeChangeView is the contract_code_update/deletion an account change
// implies when its code hash moved.
func (c *Chain) codeChangeView(ch *stateChange) map[string]any {
	before, after := ch.before.account.CodeHash, ch.after.account.CodeHash
	if !ch.before.exists {
		before = near.CryptoHash{}
	}
	if !ch.after.exists {
		after = near.CryptoHash{}
	}
	if ch.key.kind != changeAccount || before == after {
		return nil
	}
	if after.IsZero() {
		return map[string]any{"cause": causeView(ch.cause), "type": "contract_code_deletion", "change": map[string]any{"account_id": ch.key.account}}
	}
	return map[string]any{"cause": causeView(ch.cause), "type": "contract_code_update",
		"change": map[string]any{"account_id": ch.key.account, "code_base64": base64.StdEncoding.EncodeToString(c.st.code[after])}}
}

func (c *Chain) rpcChanges(params json.RawMessage) (any, *rpcError) {
	var p struct {
		near.BlockReference
		ChangesType     string   `json:"changes_type"`
		AccountIDs      []string `json:"account_ids"`
		KeyPrefixBase64 string   `json:"key_prefix_base64"`
		Keys            []struct {
			AccountID string `json:"account_id"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, parseError("EXPERIMENTAL_changes params: %v", err)
	}
	prefix, err := base64.StdEncoding.DecodeString(p.KeyPrefixBase64)
	if err != nil {
		return nil, parseError("key_prefix_base64: %v", err)
	}
	accounts := map[string]bool{}
	for _, id := range p.AccountIDs {
		accounts[id] = true
	}
	keys := map[changeKey]bool{}
	for _, k := range p.Keys {
		pk, err := near.ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, parseError("keys: %v", err)
		}
		keys[changeKey{kind: changeAccessKey, account: k.AccountID, key: pk.String()}] = true
	}
	var match func(ch *stateChange) bool
	code := false
	switch p.ChangesType {
	case "account_changes":
		match = func(ch *stateChange) bool { return ch.key.kind == changeAccount && accounts[ch.key.account] }
	case "all_access_key_changes":
		match = func(ch *stateChange) bool { return ch.key.kind == changeAccessKey && accounts[ch.key.account] }
	case "single_access_key_changes":
		match = func(ch *stateChange) bool { return keys[ch.key] }
	case "data_changes":
		match = func(ch *stateChange) bool {
			return ch.key.kind == changeData && accounts[ch.key.account] && strings.HasPrefix(ch.key.key, string(prefix))
		}
	case "contract_code_changes":
		code = true
		match = func(ch *stateChange) bool { return ch.key.kind == changeAccount && accounts[ch.key.account] }
	default:
		return nil, parseError("unknown changes_type %q (want account_changes, single_access_key_changes, all_access_key_changes, data_changes or contract_code_changes)", p.ChangesType)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(p.BlockReference)
	if rerr != nil {
		return nil, rerr
	}
	out := []map[string]any{}
	for i := range b.Changes {
		ch := &b.Changes[i]
		if !match(ch) {
			continue
		}
		if code {
			if v := c.codeChangeView(ch); v != nil {
				out = append(out, v)
			}
			continue
		}
		out = append(out, c.changeView(ch))
	}
	return map[string]any{"block_hash": b.Hash.String(), "changes": out}, nil
}

func (c *Chain) rpcChangesInBlock(params json.RawMessage) (any, *rpcError) {
	ref, rerr := parseBlockRef(params, "EXPERIMENTAL_changes_in_block")
	if rerr != nil {
		return nil, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(ref)
	if rerr != nil {
		return nil, rerr
	}
	type touched struct{ typ, account string }
	seen := map[touched]bool{}
	for i := range b.Changes {
		ch := &b.Changes[i]
		switch ch.key.kind {
		case changeAccount:
			seen[touched{"account_touched", ch.key.account}] = true
			if c.codeChangeView(ch) != nil {
				seen[touched{"contract_code_touched", ch.key.account}] = true
			}
		case changeAccessKey:
			seen[touched{"access_key_touched", ch.key.account}] = true
		case changeData:
			seen[touched{"data_touched", ch.key.account}] = true
		}
	}
	list := make([]touched, 0, len(seen))
	for t := range seen {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].account != list[j].account {
			return list[i].account < list[j].account
		}
		return list[i].typ < list[j].typ
	})
	out := make([]map[string]any, 0, len(list))
	for _, t := range list {
		out = append(out, map[string]any{"type": t.typ, "account_id": t.account})
	}
	return map[string]any{"block_hash": b.Hash.String(), "changes": out}, nil
}
