package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// Viewer is the read-only NEAR access the keystore needs; *near.Client
// implements it.
type Viewer interface {
	ViewFunction(ctx context.Context, contract, method string, args any, out any) error
	ViewAccount(ctx context.Context, accountID string, ref near.BlockReference) (*near.AccountView, error)
	ViewAccessKey(ctx context.Context, accountID string, pk near.PublicKey, ref near.BlockReference) (*near.AccessKeyView, error)
}

// ErrAccessDenied: the requester does not satisfy the secrets' access
// condition.
var ErrAccessDenied = errors.New("access to secrets denied")

// ErrAccessCheck: the condition could not be evaluated (a view call failed,
// a malformed condition). The request fails; it is never let through.
var ErrAccessCheck = errors.New("access condition could not be checked")

// maxConditionDepth bounds nesting, as the contract does.
const maxConditionDepth = 8

// Evaluate reports whether caller satisfies cond. Views use final
// finality. An error means the answer is unknown and must be treated as a
// refusal by the caller.
func Evaluate(ctx context.Context, v Viewer, cond contracts.AccessCondition, caller string) (bool, error) {
	return evaluate(ctx, v, cond, caller, 0)
}

func evaluate(ctx context.Context, v Viewer, c contracts.AccessCondition, caller string, depth int) (bool, error) {
	if depth > maxConditionDepth {
		return false, fmt.Errorf("%w: conditions nested deeper than %d", ErrAccessCheck, maxConditionDepth)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	switch c.Kind {
	case contracts.AccessAllowAll:
		return true, nil
	case contracts.AccessWhitelist:
		return slices.Contains(c.Accounts, caller), nil
	case contracts.AccessAccountPattern:
		// Anchored: "alice\.near" must not admit "malice.near" (upstream
		// used an unanchored is_match).
		re, err := regexp.Compile(`^(?:` + c.Pattern + `)$`)
		if err != nil {
			return false, fmt.Errorf("%w: account pattern %q is not a valid regular expression: %w", ErrAccessCheck, c.Pattern, err)
		}
		return re.MatchString(caller), nil
	case contracts.AccessNearBalance:
		want, err := parseAmount(c.Value)
		if err != nil {
			return false, err
		}
		acct, err := v.ViewAccount(ctx, caller, near.Final())
		if err != nil {
			return false, fmt.Errorf("%w: view_account %s: %w", ErrAccessCheck, caller, err)
		}
		return compare(acct.Amount.Big(), c.Operator, want)
	case contracts.AccessFtBalance:
		want, err := parseAmount(c.Value)
		if err != nil {
			return false, err
		}
		var bal string
		if err := v.ViewFunction(ctx, c.Contract, "ft_balance_of", map[string]string{"account_id": caller}, &bal); err != nil {
			return false, fmt.Errorf("%w: %s.ft_balance_of(%s): %w", ErrAccessCheck, c.Contract, caller, err)
		}
		got, err := parseAmount(bal)
		if err != nil {
			return false, fmt.Errorf("%w: %s.ft_balance_of returned %q, not a decimal amount", ErrAccessCheck, c.Contract, bal)
		}
		return compare(got, c.Operator, want)
	case contracts.AccessNftOwned:
		if c.TokenID != nil {
			var tok *struct {
				OwnerID string `json:"owner_id"`
			}
			if err := v.ViewFunction(ctx, c.Contract, "nft_token", map[string]string{"token_id": *c.TokenID}, &tok); err != nil {
				return false, fmt.Errorf("%w: %s.nft_token(%s): %w", ErrAccessCheck, c.Contract, *c.TokenID, err)
			}
			return tok != nil && tok.OwnerID == caller, nil
		}
		var toks []json.RawMessage
		if err := v.ViewFunction(ctx, c.Contract, "nft_tokens_for_owner", map[string]any{"account_id": caller, "limit": 1}, &toks); err != nil {
			return false, fmt.Errorf("%w: %s.nft_tokens_for_owner(%s): %w", ErrAccessCheck, c.Contract, caller, err)
		}
		return len(toks) > 0, nil
	case contracts.AccessDaoMember:
		return daoMember(ctx, v, c, caller)
	case contracts.AccessLogic:
		switch c.Operator {
		case "And":
			for _, sub := range c.Conditions {
				ok, err := evaluate(ctx, v, sub, caller, depth+1)
				if err != nil || !ok {
					return false, err
				}
			}
			return true, nil
		case "Or":
			for _, sub := range c.Conditions {
				ok, err := evaluate(ctx, v, sub, caller, depth+1)
				if err != nil || ok {
					return ok, err
				}
			}
			return false, nil
		default:
			return false, fmt.Errorf("%w: logic operator %q (want And or Or)", ErrAccessCheck, c.Operator)
		}
	case contracts.AccessNot:
		if len(c.Conditions) != 1 {
			return false, fmt.Errorf("%w: Not needs exactly one condition", ErrAccessCheck)
		}
		ok, err := evaluate(ctx, v, c.Conditions[0], caller, depth+1)
		if err != nil {
			return false, err // an unknown inner answer never becomes "allowed"
		}
		return !ok, nil
	}
	return false, fmt.Errorf("%w: unknown condition kind %q", ErrAccessCheck, c.Kind)
}

// daoMember checks a Sputnik v2 DAO's policy: the role named c.Role must
// exist and be "Everyone" or a Group listing the caller.
func daoMember(ctx context.Context, v Viewer, c contracts.AccessCondition, caller string) (bool, error) {
	var policy struct {
		Roles []struct {
			Name string          `json:"name"`
			Kind json.RawMessage `json:"kind"`
		} `json:"roles"`
	}
	if err := v.ViewFunction(ctx, c.Contract, "get_policy", nil, &policy); err != nil {
		return false, fmt.Errorf("%w: %s.get_policy: %w", ErrAccessCheck, c.Contract, err)
	}
	for _, r := range policy.Roles {
		if r.Name != c.Role {
			continue
		}
		var everyone string
		if json.Unmarshal(r.Kind, &everyone) == nil {
			return everyone == "Everyone", nil
		}
		var kind map[string]json.RawMessage
		if err := json.Unmarshal(r.Kind, &kind); err != nil {
			return false, fmt.Errorf("%w: DAO %s role %q has kind %s, which is not a Sputnik role kind", ErrAccessCheck, c.Contract, c.Role, r.Kind)
		}
		if g, ok := kind["Group"]; ok {
			var members []string
			if err := json.Unmarshal(g, &members); err != nil {
				return false, fmt.Errorf("%w: DAO %s role %q: group is not a list of accounts", ErrAccessCheck, c.Contract, c.Role)
			}
			return slices.Contains(members, caller), nil
		}
		if _, ok := kind["Member"]; ok {
			// Token-weighted membership needs the DAO's staking contract;
			// upstream answered "false" silently, we say so.
			return false, fmt.Errorf("%w: DAO %s role %q is token-weighted (Member), which the keystore cannot check; use a Group role", ErrAccessCheck, c.Contract, c.Role)
		}
		return false, fmt.Errorf("%w: DAO %s role %q has unknown kind %s", ErrAccessCheck, c.Contract, c.Role, r.Kind)
	}
	return false, nil
}

func parseAmount(s string) (*big.Int, error) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return nil, fmt.Errorf("%w: amount %q is not a decimal u128", ErrAccessCheck, s)
	}
	return n, nil
}

func compare(got *big.Int, op string, want *big.Int) (bool, error) {
	c := got.Cmp(want)
	switch op {
	case "Gte":
		return c >= 0, nil
	case "Lte":
		return c <= 0, nil
	case "Gt":
		return c > 0, nil
	case "Lt":
		return c < 0, nil
	case "Eq":
		return c == 0, nil
	case "Ne":
		return c != 0, nil
	}
	return false, fmt.Errorf("%w: comparison operator %q (want Gte, Lte, Gt, Lt, Eq or Ne)", ErrAccessCheck, op)
}

var _ Viewer = (*near.Client)(nil)
