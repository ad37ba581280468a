package hostcall

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/exec/hostabi"
)

// view answers near_view: every view of a run reads the block pinned at its
// first view (the latest final block then).
func (s *Session) view(ctx context.Context, args [][]byte) hostabi.Reply {
	if s.cfg.Chain == nil {
		return hostabi.Errorf(hostabi.Unavailable, "NEAR views are not available to this run (no RPC endpoint)")
	}
	if len(args) != 1 {
		return hostabi.Errorf(hostabi.BadInput, "near_view takes one request")
	}
	f, err := hostabi.SplitFields(args[0])
	if err != nil || len(f) == 0 {
		return hostabi.Errorf(hostabi.BadInput, "the request is not fields [kind, args...]")
	}
	kind := string(f[0])
	want := map[string]int{"call_function": 4, "view_account": 2, "view_access_key": 3, "view_state": 3, "block": 1}
	n, known := want[kind]
	if !known {
		return hostabi.Errorf(hostabi.BadInput, "unknown view %q (call_function, view_account, view_access_key, view_state, block)", kind)
	}
	if len(f) != n {
		return hostabi.Errorf(hostabi.BadInput, "view %s takes %d arguments, got %d", kind, n-1, len(f)-1)
	}
	if s.viewCalls >= s.limits.ViewCalls {
		return hostabi.Errorf(hostabi.Limit, "a run may make at most %d NEAR views", s.limits.ViewCalls)
	}
	s.viewCalls++
	if s.block == nil {
		b, err := s.cfg.Chain.Block(ctx, near.Final())
		if err != nil {
			return hostabi.Errorf(hostabi.Failed, "reading the final block: %v", err)
		}
		s.block = b
	}
	at := near.AtHeight(s.block.Header.Height)
	var raw json.RawMessage
	switch kind {
	case "block":
		out, err := json.Marshal(s.block)
		if err != nil {
			return hostabi.Errorf(hostabi.Failed, "encoding the block: %v", err)
		}
		return hostabi.Reply{Data: out}
	case "call_function":
		var r near.CallResult
		err := s.cfg.Chain.Query(ctx, "call_function", at, map[string]any{"account_id": string(f[1]), "method_name": string(f[2]),
			"args_base64": base64.StdEncoding.EncodeToString(f[3])}, &r)
		if err != nil {
			return hostabi.Errorf(hostabi.Failed, "%v", err)
		}
		return hostabi.Reply{Data: r.Result}
	case "view_account":
		err = s.cfg.Chain.Query(ctx, "view_account", at, map[string]any{"account_id": string(f[1])}, &raw)
	case "view_access_key":
		err = s.cfg.Chain.Query(ctx, "view_access_key", at, map[string]any{"account_id": string(f[1]), "public_key": string(f[2])}, &raw)
	case "view_state":
		err = s.cfg.Chain.Query(ctx, "view_state", at, map[string]any{"account_id": string(f[1]), "prefix_base64": string(f[2])}, &raw)
	}
	if err != nil {
		return hostabi.Errorf(hostabi.Failed, "%v", err)
	}
	return hostabi.Reply{Data: raw}
}
