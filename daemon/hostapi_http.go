package daemon

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"

	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/httpjson"
	"github.com/outlayer/outlayer/store"
)

// The public read routes of the host APIs, in upstream's shapes:
//
//	GET /vrf/pubkey                                    {"vrf_public_key_hex": "…"}
//	GET /public/storage/get?code=<sha256>|project_uuid=<uuid>&key=…&format=json|raw
//	GET /requests/{id}/record                          the run's record (application/octet-stream)
//
// A project's runs keep their storage under the project (upstream names it
// by project uuid, as here); a run outside any project under its code
// identity, the sha256 of its WASM (programIdentity).
func (n *Node) hostRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /vrf/pubkey", n.handleVRFPubkey)
	mux.HandleFunc("GET /public/storage/get", n.handlePublicStorage)
	mux.HandleFunc("GET /requests/{id}/record", n.handleRecord)
}

// vrfCache holds the VRF key once the keystore is ready.
type vrfCache struct {
	mu  sync.Mutex
	key *hostcall.VRF
}

// vrfKey is the cluster's VRF key, nil while this node's keystore is not
// ready (or it runs without one).
func (n *Node) vrfKey() *hostcall.VRF {
	n.vrf.mu.Lock()
	defer n.vrf.mu.Unlock()
	if n.vrf.key != nil || n.keys == nil {
		return n.vrf.key
	}
	seed, err := n.keys.VRFSeed()
	if err != nil {
		return nil
	}
	key, err := hostcall.NewVRF(seed)
	if err != nil {
		n.log.Error("deriving the VRF key", "err", err)
		return nil
	}
	n.vrf.key = key
	return key
}

func (n *Node) handleVRFPubkey(w http.ResponseWriter, _ *http.Request) {
	key := n.vrfKey()
	if key == nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "this node's keystore is not ready, so it has no VRF key yet")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"vrf_public_key_hex": hex.EncodeToString(key.PublicKey())})
}

func (n *Node) handlePublicStorage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var code string
	switch c, uuid := q.Get("code"), q.Get("project_uuid"); {
	case c != "" && uuid != "":
		httpjson.Error(w, http.StatusBadRequest, "give code or project_uuid, not both")
		return
	case uuid != "":
		if !validProjectUUID(uuid) {
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("project_uuid %q is not a project uuid (p and 16 hex digits)", uuid))
			return
		}
		code = programIdentity(uuid, [32]byte{})
	default:
		if b, err := hex.DecodeString(c); err != nil || len(b) != 32 {
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("code %q is not a program's sha256 in hex", c))
			return
		}
		code = c
	}
	key := q.Get("key")
	if key == "" || len(key) > store.MaxProgKeyBytes {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("key must be 1 to %d bytes", store.MaxProgKeyBytes))
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "raw" {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("format %q is not json or raw", format))
		return
	}
	if !n.consistent(w, r) {
		return
	}
	ns, _ := hostcall.Namespace(hostabi.ScopePublic, code, "")
	v, ok, err := n.cons.Store().ProgGet(ns, []byte(key))
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if format == "raw" {
		if !ok {
			httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no public value for key %q", key))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
		return
	}
	out := map[string]any{"exists": ok}
	if ok {
		out["value"] = base64.StdEncoding.EncodeToString(v)
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (n *Node) handleRecord(w http.ResponseWriter, r *http.Request) {
	j, ok := n.pathJob(w, r)
	if !ok {
		return
	}
	id := j.ID
	rec, ok, err := n.cons.Store().Record(id)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !ok {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("request %d has no run record (its program made no host call, or it has not finished)", id))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(rec)
}

// validProjectUUID reports a uuid as the contract issues them: "p" and 16
// lowercase hex digits.
func validProjectUUID(s string) bool {
	if len(s) != 17 || s[0] != 'p' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
