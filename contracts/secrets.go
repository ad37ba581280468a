package contracts

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outlayer/outlayer/contracts/near"
)

// SecretAccessor says which code may see a secret: {"Repo":{repo, branch}},
// {"WasmHash":{hash}} or {"Project":{project_id}} (every version of a
// project; store_secrets requires the project to exist). Exactly one field
// is set. The contract strips http(s):// and trailing slashes from
// Repo.Repo before storing or looking up.
type SecretAccessor struct {
	Repo     *RepoAccessor
	WasmHash *WasmHashAccessor
	Project  *ProjectAccessor
}

// ProjectAccessor is a project, "<owner>/<name>".
type ProjectAccessor struct {
	ProjectID string `json:"project_id"`
}

// RepoAccessor is a repository, optionally one branch (nil: every branch).
//
// Commit (40 hex digits, exclusive with Branch) binds the secrets to one
// commit: only requests naming exactly that commit read them. Without
// Branch and Commit the secrets reach every commit of every branch.
type RepoAccessor struct {
	Repo   string  `json:"repo"`
	Branch *string `json:"branch"`
	Commit *string `json:"commit,omitempty"`
}

// WasmHashAccessor is a module by its hex SHA-256.
type WasmHashAccessor struct {
	Hash string `json:"hash"`
}

// MarshalJSON implements json.Marshaler.
func (a SecretAccessor) MarshalJSON() ([]byte, error) {
	n := 0
	for _, set := range []bool{a.Repo != nil, a.WasmHash != nil, a.Project != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, errors.New("secret accessor must set exactly one of Repo, WasmHash and Project")
	case a.Repo != nil:
		return encodeVariant("Repo", a.Repo)
	case a.WasmHash != nil:
		return encodeVariant("WasmHash", a.WasmHash)
	default:
		return encodeVariant("Project", a.Project)
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *SecretAccessor) UnmarshalJSON(b []byte) error {
	tag, body, err := decodeVariant(b, "secret accessor")
	if err != nil {
		return err
	}
	*a = SecretAccessor{}
	switch tag {
	case "Repo":
		a.Repo = new(RepoAccessor)
		return json.Unmarshal(body, a.Repo)
	case "WasmHash":
		a.WasmHash = new(WasmHashAccessor)
		return json.Unmarshal(body, a.WasmHash)
	case "Project":
		a.Project = new(ProjectAccessor)
		return json.Unmarshal(body, a.Project)
	default:
		return fmt.Errorf("decoding secret accessor: unknown variant %q (want Repo, WasmHash or Project)", tag)
	}
}

// Access condition kinds.
const (
	AccessAllowAll       = "AllowAll"
	AccessWhitelist      = "Whitelist"
	AccessAccountPattern = "AccountPattern"
	AccessNearBalance    = "NearBalance"
	AccessFtBalance      = "FtBalance"
	AccessNftOwned       = "NftOwned"
	AccessDaoMember      = "DaoMember"
	AccessLogic          = "Logic"
	AccessNot            = "Not"
)

// AccessCondition is upstream's AccessConditionV1, which the keystore
// evaluates against the requesting account. Kind selects the variant and
// which fields are meaningful:
//
//	AllowAll                       -
//	Whitelist{accounts}            Accounts
//	AccountPattern{pattern}        Pattern (a regex, unanchored)
//	NearBalance{operator,value}    Operator (Gte|Lte|Gt|Lt|Eq|Ne), Value (yocto)
//	FtBalance{contract,operator,value}  Contract, Operator, Value (token units)
//	NftOwned{contract,token_id}    Contract, TokenID (nil: any token)
//	DaoMember{dao_contract,role}   Contract, Role
//	Logic{operator,conditions}     Operator (And|Or), Conditions
//	Not{condition}                 Conditions[0]
type AccessCondition struct {
	Kind       string
	Accounts   []string
	Pattern    string
	Operator   string
	Value      string
	Contract   string
	TokenID    *string
	Role       string
	Conditions []AccessCondition
}

// AllowAll is the condition that admits every account.
func AllowAll() AccessCondition { return AccessCondition{Kind: AccessAllowAll} }

// MarshalJSON writes the canonical form the contract stores.
func (c AccessCondition) MarshalJSON() ([]byte, error) {
	switch c.Kind {
	case AccessAllowAll:
		return json.Marshal(AccessAllowAll)
	case AccessWhitelist:
		accounts := c.Accounts
		if accounts == nil {
			accounts = []string{}
		}
		return encodeVariant(c.Kind, struct {
			Accounts []string `json:"accounts"`
		}{accounts})
	case AccessAccountPattern:
		return encodeVariant(c.Kind, struct {
			Pattern string `json:"pattern"`
		}{c.Pattern})
	case AccessNearBalance:
		return encodeVariant(c.Kind, struct {
			Operator string `json:"operator"`
			Value    string `json:"value"`
		}{c.Operator, c.Value})
	case AccessFtBalance:
		return encodeVariant(c.Kind, struct {
			Contract string `json:"contract"`
			Operator string `json:"operator"`
			Value    string `json:"value"`
		}{c.Contract, c.Operator, c.Value})
	case AccessNftOwned:
		return encodeVariant(c.Kind, struct {
			Contract string  `json:"contract"`
			TokenID  *string `json:"token_id"`
		}{c.Contract, c.TokenID})
	case AccessDaoMember:
		return encodeVariant(c.Kind, struct {
			DAOContract string `json:"dao_contract"`
			Role        string `json:"role"`
		}{c.Contract, c.Role})
	case AccessLogic:
		return encodeVariant(c.Kind, struct {
			Operator   string            `json:"operator"`
			Conditions []AccessCondition `json:"conditions"`
		}{c.Operator, c.Conditions})
	case AccessNot:
		if len(c.Conditions) != 1 {
			return nil, errors.New("a Not access condition needs exactly one inner condition")
		}
		return encodeVariant(c.Kind, struct {
			Condition AccessCondition `json:"condition"`
		}{c.Conditions[0]})
	default:
		return nil, fmt.Errorf("unknown access condition kind %q", c.Kind)
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *AccessCondition) UnmarshalJSON(b []byte) error {
	tag, body, err := decodeVariant(b, "access condition")
	if err != nil {
		return err
	}
	*c = AccessCondition{Kind: tag}
	if tag == AccessAllowAll {
		return nil
	}
	var f struct {
		Accounts    []string          `json:"accounts"`
		Pattern     string            `json:"pattern"`
		Operator    string            `json:"operator"`
		Value       string            `json:"value"`
		Contract    string            `json:"contract"`
		DAOContract string            `json:"dao_contract"`
		TokenID     *string           `json:"token_id"`
		Role        string            `json:"role"`
		Conditions  []AccessCondition `json:"conditions"`
		Condition   *AccessCondition  `json:"condition"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		return fmt.Errorf("decoding %s access condition: %w", tag, err)
	}
	switch tag {
	case AccessWhitelist:
		c.Accounts = f.Accounts
	case AccessAccountPattern:
		c.Pattern = f.Pattern
	case AccessNearBalance:
		c.Operator, c.Value = f.Operator, f.Value
	case AccessFtBalance:
		c.Contract, c.Operator, c.Value = f.Contract, f.Operator, f.Value
	case AccessNftOwned:
		c.Contract, c.TokenID = f.Contract, f.TokenID
	case AccessDaoMember:
		c.Contract, c.Role = f.DAOContract, f.Role
	case AccessLogic:
		c.Operator, c.Conditions = f.Operator, f.Conditions
	case AccessNot:
		if f.Condition == nil {
			return errors.New("decoding Not access condition: missing condition")
		}
		c.Conditions = []AccessCondition{*f.Condition}
	default:
		return fmt.Errorf("decoding access condition: unknown variant %q", tag)
	}
	return nil
}

// StoreSecretsArgs are store_secrets's arguments (attach the deposit
// estimate_storage_cost reports, or more; the excess is refunded).
type StoreSecretsArgs struct {
	Accessor               SecretAccessor  `json:"accessor"`
	Profile                string          `json:"profile"`
	EncryptedSecretsBase64 string          `json:"encrypted_secrets_base64"`
	Access                 AccessCondition `json:"access"`
}

// SecretKeyArgs name one of the caller's secrets (delete_secrets).
type SecretKeyArgs struct {
	Accessor SecretAccessor `json:"accessor"`
	Profile  string         `json:"profile"`
}

// UpdateAccessArgs are update_access's arguments.
type UpdateAccessArgs struct {
	Accessor  SecretAccessor  `json:"accessor"`
	Profile   string          `json:"profile"`
	NewAccess AccessCondition `json:"new_access"`
}

// GetSecretsArgs are the arguments of get_secrets and secrets_exist.
type GetSecretsArgs struct {
	Accessor SecretAccessor `json:"accessor"`
	Profile  string         `json:"profile"`
	Owner    string         `json:"owner"`
}

// ListUserSecretsArgs are list_user_secrets's arguments.
type ListUserSecretsArgs struct {
	AccountID string `json:"account_id"`
}

// EstimateStorageCostArgs are estimate_storage_cost's arguments.
type EstimateStorageCostArgs struct {
	Accessor               SecretAccessor  `json:"accessor"`
	Profile                string          `json:"profile"`
	Owner                  string          `json:"owner"`
	EncryptedSecretsBase64 string          `json:"encrypted_secrets_base64"`
	Access                 AccessCondition `json:"access"`
}

// SecretProfileView is get_secrets's result. Accessor is the one that
// matched, which for a branch lookup may be the all-branches entry.
type SecretProfileView struct {
	EncryptedSecrets string          `json:"encrypted_secrets"`
	Access           AccessCondition `json:"access"`
	CreatedAt        uint64          `json:"created_at"`
	UpdatedAt        uint64          `json:"updated_at"`
	StorageDeposit   near.U128       `json:"storage_deposit"`
	Accessor         SecretAccessor  `json:"accessor"`
}

// UserSecretInfo is one entry of list_user_secrets (no ciphertext).
type UserSecretInfo struct {
	Accessor       SecretAccessor  `json:"accessor"`
	Profile        string          `json:"profile"`
	CreatedAt      uint64          `json:"created_at"`
	UpdatedAt      uint64          `json:"updated_at"`
	StorageDeposit near.U128       `json:"storage_deposit"`
	Access         AccessCondition `json:"access"`
}
