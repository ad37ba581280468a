package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// PutNode adds or replaces a cluster member's record.
func (t *Tx) PutNode(n Node) error {
	if n.PeerID == "" {
		return badInput("node record has no peer id")
	}
	if n.Role != RoleVoter && n.Role != RoleNonVoter {
		return badInput("node %s has role %q; want %q or %q", n.PeerID, n.Role, RoleVoter, RoleNonVoter)
	}
	n.JoinedAt = canonicalTime(n.JoinedAt)
	n.LastSeen = canonicalTime(n.LastSeen)
	n.Addresses = slices.Clone(n.Addresses)
	slices.Sort(n.Addresses)
	n.Addresses = slices.Compact(n.Addresses)
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return t.bucket(bucketNodes).Put([]byte(n.PeerID), raw)
}

// Node returns a member's record, or ErrNotFound.
func (t *Tx) Node(peerID string) (*Node, error) {
	raw := t.bucket(bucketNodes).Get([]byte(peerID))
	if raw == nil {
		return nil, fmt.Errorf("node %s: %w", peerID, ErrNotFound)
	}
	var n Node
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("decode node %s: %w", peerID, err)
	}
	return &n, nil
}

// Nodes lists all members by peer id.
func (t *Tx) Nodes() ([]*Node, error) {
	var out []*Node
	err := t.bucket(bucketNodes).ForEach(func(k, _ []byte) error {
		n, err := t.Node(string(k))
		if err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// RemoveNode deletes a member's record. Removing an unknown node is a no-op.
func (t *Tx) RemoveNode(peerID string) error {
	return t.bucket(bucketNodes).Delete([]byte(peerID))
}

// TouchNode records that the node was seen at now; last-seen only moves
// forward.
func (t *Tx) TouchNode(peerID string, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	n, err := t.Node(peerID)
	if err != nil {
		return err
	}
	if !now.After(n.LastSeen) {
		return nil
	}
	n.LastSeen = now
	return t.PutNode(*n)
}

// PutSealed stores an opaque sealed keystore blob under name.
func (t *Tx) PutSealed(name string, sealed []byte) error {
	if name == "" {
		return badInput("keystore entry name is empty")
	}
	if len(name) > 1024 {
		return badInput("keystore entry name is %d bytes long; at most 1024 are allowed", len(name))
	}
	return t.bucket(bucketKeystore).Put([]byte(name), bytes.Clone(sealed))
}

// Sealed returns a copy of the sealed blob stored under name, or ErrNotFound.
func (t *Tx) Sealed(name string) ([]byte, error) {
	v := t.bucket(bucketKeystore).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("keystore entry %q: %w", name, ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// DeleteSealed removes a keystore entry; removing a missing one is a no-op.
func (t *Tx) DeleteSealed(name string) error {
	return t.bucket(bucketKeystore).Delete([]byte(name))
}

// SealedNames lists keystore entry names starting with prefix, in order.
func (t *Tx) SealedNames(prefix string) []string {
	var out []string
	c := t.bucket(bucketKeystore).Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
		out = append(out, string(k))
	}
	return out
}
