package near

import (
	"fmt"
)

// Account id length limits.
const (
	MinAccountIDLen = 2
	MaxAccountIDLen = 64
)

// AccountKind classifies a valid account id.
type AccountKind int

// Account kinds (near-account-id).
const (
	NamedAccount AccountKind = iota
	NearImplicitAccount
	EthImplicitAccount
	DeterministicAccount
)

// ValidateAccountID checks NEAR's account id rules: 2–64 characters of
// a-z, 0-9, '-', '_' and '.', parts separated by '.', no separator at either
// end and no two separators next to each other.
func ValidateAccountID(id string) error {
	if len(id) < MinAccountIDLen {
		return fmt.Errorf("account id %q is too short (minimum %d characters)", id, MinAccountIDLen)
	}
	if len(id) > MaxAccountIDLen {
		return fmt.Errorf("account id %q is too long (maximum %d characters)", id, MaxAccountIDLen)
	}
	prevSep := true // the start behaves like a separator: it may not be followed by one
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			prevSep = false
		case c == '-' || c == '_' || c == '.':
			if prevSep {
				if i == 0 {
					return fmt.Errorf("account id %q may not start with %q", id, c)
				}
				return fmt.Errorf("account id %q has two separators in a row at position %d", id, i)
			}
			prevSep = true
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("account id %q has an uppercase letter at position %d (account ids are lowercase)", id, i)
		default:
			return fmt.Errorf("account id %q has an invalid character %q at position %d", id, c, i)
		}
	}
	if prevSep {
		return fmt.Errorf("account id %q may not end with a separator", id)
	}
	return nil
}

// AccountIDKind classifies id, which must already be valid.
func AccountIDKind(id string) AccountKind {
	switch {
	case len(id) == 64 && isLowerHex(id):
		return NearImplicitAccount
	case len(id) == 42 && id[:2] == "0x" && isLowerHex(id[2:]):
		return EthImplicitAccount
	case len(id) == 42 && id[:2] == "0s" && isLowerHex(id[2:]):
		return DeterministicAccount
	}
	return NamedAccount
}

// IsTopLevelAccount reports whether id has no '.' (only the registrar may create
// such named accounts on real NEAR).
func IsTopLevelAccount(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return false
		}
	}
	return true
}

// IsSubAccountOf reports whether id is a direct sub-account of parent
// ("a.parent" of "parent"), the only accounts parent may create.
func IsSubAccountOf(id, parent string) bool {
	if len(id) <= len(parent)+1 || id[len(id)-len(parent)-1:] != "."+parent {
		return false
	}
	return IsTopLevelAccount(id[:len(id)-len(parent)-1])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
