package daemon

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/daemon/httpguard"
	"github.com/outlayer/outlayer/internal/httpjson"
)

// AdminSocketFile is the admin API's unix socket in the data directory.
// Only the node's own user can connect (mode 0600 in a 0700 directory):
// whoever can, can change the cluster.
const AdminSocketFile = "admin.sock"

// AdminSocket is the admin API's socket path for a data directory.
func AdminSocket(dataDir string) string { return filepath.Join(dataDir, AdminSocketFile) }

// startAdmin serves the operator's API on the unix socket:
//
//	GET  /status               as on the public API
//	POST /nodes/{peer}/remove  take a member out of the cluster
//	POST /leave                take this node out of the cluster
//
// Nothing here is on the public API, which only reads and serves the
// keystore endpoints that check their caller's signature.
func (n *Node) startAdmin() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.HandleFunc("POST /nodes/{peer}/remove", n.handleRemove)
	mux.HandleFunc("POST /leave", n.handleLeave)
	ln, err := httpguard.ListenUnix(AdminSocket(n.cfg.DataDir))
	if err != nil {
		return err
	}
	n.adminSrv, ln = httpguard.Server(mux, ln, httpguard.Limits{}, n.log)
	go func() {
		if err := n.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin API stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) handleRemove(w http.ResponseWriter, r *http.Request) {
	pid, err := peer.Decode(r.PathValue("peer"))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "not a peer id: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
	defer cancel()
	if err := n.cons.Remove(ctx, pid); err != nil {
		httpjson.Error(w, http.StatusBadGateway, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"removed": pid.String()})
}

func (n *Node) handleLeave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
	defer cancel()
	if err := n.cons.Leave(ctx); err != nil {
		httpjson.Error(w, http.StatusBadGateway, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"left": n.PeerID()})
}
