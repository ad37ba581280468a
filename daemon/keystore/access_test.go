package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// chainViews answers view calls from a table, as contracts on chain would;
// the devchain test covers the real RPC path (NearBalance, get_secrets).
type chainViews struct {
	balances map[string]uint64
	calls    map[string]string // "contract.method(args json)" -> result json
}

func (v chainViews) ViewFunction(_ context.Context, contract, method string, args any, out any) error {
	a, _ := json.Marshal(args)
	res, ok := v.calls[fmt.Sprintf("%s.%s(%s)", contract, method, a)]
	if !ok {
		return fmt.Errorf("%w: %s.%s(%s) is not deployed", near.ErrContractExecution, contract, method, a)
	}
	return json.Unmarshal([]byte(res), out)
}

func (v chainViews) ViewAccount(_ context.Context, id string, _ near.BlockReference) (*near.AccountView, error) {
	b, ok := v.balances[id]
	if !ok {
		return nil, near.ErrUnknownAccount
	}
	return &near.AccountView{Amount: near.NewU128(b)}, nil
}

func (v chainViews) ViewAccessKey(context.Context, string, near.PublicKey, near.BlockReference) (*near.AccessKeyView, error) {
	return nil, near.ErrUnknownAccessKey
}

func cond(t *testing.T, js string) contracts.AccessCondition {
	t.Helper()
	var c contracts.AccessCondition
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return c
}

func TestAccessConditions(t *testing.T) {
	v := chainViews{
		balances: map[string]uint64{"alice.near": 5_000, "bob.near": 10},
		calls: map[string]string{
			`ft.near.ft_balance_of({"account_id":"alice.near"})`:                   `"1000"`,
			`ft.near.ft_balance_of({"account_id":"bob.near"})`:                     `"0"`,
			`nft.near.nft_token({"token_id":"7"})`:                                 `{"token_id":"7","owner_id":"alice.near"}`,
			`nft.near.nft_token({"token_id":"8"})`:                                 `null`,
			`nft.near.nft_tokens_for_owner({"account_id":"alice.near","limit":1})`: `[{"token_id":"7"}]`,
			`nft.near.nft_tokens_for_owner({"account_id":"bob.near","limit":1})`:   `[]`,
			`dao.near.get_policy(null)`: `{"roles":[{"name":"council","kind":{"Group":["alice.near"]}},
				{"name":"all","kind":"Everyone"},{"name":"holders","kind":{"Member":"1"}}]}`,
		},
	}
	cases := []struct {
		cond   string
		caller string
		want   bool
		err    error
	}{
		{`"AllowAll"`, "anyone.near", true, nil},
		{`{"Whitelist":{"accounts":["alice.near"]}}`, "alice.near", true, nil},
		{`{"Whitelist":{"accounts":["alice.near"]}}`, "bob.near", false, nil},
		{`{"AccountPattern":{"pattern":"alice\\.near"}}`, "alice.near", true, nil},
		{`{"AccountPattern":{"pattern":"alice\\.near"}}`, "malice.near", false, nil}, // anchored
		{`{"AccountPattern":{"pattern":".*\\.alice\\.near"}}`, "bot.alice.near", true, nil},
		{`{"AccountPattern":{"pattern":"("}}`, "alice.near", false, ErrAccessCheck},
		{`{"NearBalance":{"operator":"Gte","value":"1000"}}`, "alice.near", true, nil},
		{`{"NearBalance":{"operator":"Gte","value":"1000"}}`, "bob.near", false, nil},
		{`{"NearBalance":{"operator":"Lt","value":"11"}}`, "bob.near", true, nil},
		{`{"NearBalance":{"operator":"Eq","value":"10"}}`, "bob.near", true, nil},
		{`{"NearBalance":{"operator":"Ne","value":"10"}}`, "bob.near", false, nil},
		{`{"NearBalance":{"operator":"Gte","value":"lots"}}`, "bob.near", false, ErrAccessCheck},
		{`{"NearBalance":{"operator":"Gte","value":"1"}}`, "ghost.near", false, near.ErrUnknownAccount},
		{`{"FtBalance":{"contract":"ft.near","operator":"Gt","value":"999"}}`, "alice.near", true, nil},
		{`{"FtBalance":{"contract":"ft.near","operator":"Gt","value":"0"}}`, "bob.near", false, nil},
		{`{"NftOwned":{"contract":"nft.near","token_id":"7"}}`, "alice.near", true, nil},
		{`{"NftOwned":{"contract":"nft.near","token_id":"7"}}`, "bob.near", false, nil},
		{`{"NftOwned":{"contract":"nft.near","token_id":"8"}}`, "alice.near", false, nil},
		{`{"NftOwned":{"contract":"nft.near","token_id":null}}`, "alice.near", true, nil},
		{`{"NftOwned":{"contract":"nft.near","token_id":null}}`, "bob.near", false, nil},
		{`{"DaoMember":{"dao_contract":"dao.near","role":"council"}}`, "alice.near", true, nil},
		{`{"DaoMember":{"dao_contract":"dao.near","role":"council"}}`, "bob.near", false, nil},
		{`{"DaoMember":{"dao_contract":"dao.near","role":"all"}}`, "bob.near", true, nil},
		{`{"DaoMember":{"dao_contract":"dao.near","role":"nobody"}}`, "alice.near", false, nil},
		{`{"DaoMember":{"dao_contract":"dao.near","role":"holders"}}`, "alice.near", false, ErrAccessCheck},
		{`{"Logic":{"operator":"And","conditions":["AllowAll",{"Whitelist":{"accounts":["alice.near"]}}]}}`, "alice.near", true, nil},
		{`{"Logic":{"operator":"And","conditions":["AllowAll",{"Whitelist":{"accounts":["alice.near"]}}]}}`, "bob.near", false, nil},
		{`{"Logic":{"operator":"Or","conditions":[{"Whitelist":{"accounts":["x.near"]}},{"NearBalance":{"operator":"Gte","value":"5"}}]}}`, "bob.near", true, nil},
		// Or short-circuits: the broken second branch is never evaluated.
		{`{"Logic":{"operator":"Or","conditions":["AllowAll",{"AccountPattern":{"pattern":"("}}]}}`, "bob.near", true, nil},
		{`{"Not":{"condition":{"Whitelist":{"accounts":["bob.near"]}}}}`, "bob.near", false, nil},
		{`{"Not":{"condition":{"Whitelist":{"accounts":["bob.near"]}}}}`, "alice.near", true, nil},
		// An error inside Not stays an error, never turns into "allowed".
		{`{"Not":{"condition":{"AccountPattern":{"pattern":"("}}}}`, "alice.near", false, ErrAccessCheck},
		{`{"FtBalance":{"contract":"missing.near","operator":"Gt","value":"0"}}`, "alice.near", false, ErrAccessCheck},
	}
	for _, c := range cases {
		got, err := Evaluate(context.Background(), v, cond(t, c.cond), c.caller)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s for %s: err %v, want %v", c.cond, c.caller, err, c.err)
			}
			if got {
				t.Errorf("%s for %s: allowed despite an error", c.cond, c.caller)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s for %s: %v, %v; want %v", c.cond, c.caller, got, err, c.want)
		}
	}
	deep := `"AllowAll"`
	for range 12 {
		deep = `{"Not":{"condition":` + deep + `}}`
	}
	if _, err := Evaluate(context.Background(), v, cond(t, deep), "a.near"); !errors.Is(err, ErrAccessCheck) {
		t.Errorf("deep nesting: %v", err)
	}
}
