package daemon_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/httpguard"
	"github.com/outlayer/outlayer/daemon/keystore"
)

// TestAdminOffThePublicAPI tries the attacks on the public API that once
// worked — an unauthenticated remove, a rebound Host, a cross-origin
// text/plain POST — and then does the remove the right way, on the admin
// socket.
func TestAdminOffThePublicAPI(t *testing.T) {
	w := newWorld(t, 100*time.Millisecond, 200)
	w.startCluster(3, nil)
	pub := "http://" + w.node(0).HTTPAddr()
	victim := w.node(2).PeerID()
	members := func() int {
		s, err := w.node(0).Consensus().Servers()
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}

	do := func(method, url, host, ctype, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(w.ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	for _, ct := range []string{"application/json", "text/plain", ""} {
		if code := do(http.MethodPost, pub+"/nodes/"+victim+"/remove", "", ct, "{}"); code < 400 {
			t.Errorf("public remove with Content-Type %q: %d", ct, code)
		}
		if code := do(http.MethodPost, pub+"/leave", "", ct, "{}"); code < 400 {
			t.Errorf("public leave with Content-Type %q: %d", ct, code)
		}
	}
	if code := do(http.MethodGet, pub+"/status", "rebound.evil.example:8080", "", ""); code != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host: %d, want 421", code)
	}
	if code := do(http.MethodGet, pub+"/status", "", "", ""); code != http.StatusOK {
		t.Errorf("a plain read: %d, want 200", code)
	}
	if code := do(http.MethodPost, pub+keystore.HTTPPrefix+"generate", "", "text/plain", "{}"); code != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain keystore write: %d, want 415", code)
	}
	if n := members(); n != 3 {
		t.Fatalf("after the refused attempts the cluster has %d members, want 3", n)
	}

	sock := daemon.AdminSocket(w.cfgs[0].DataDir)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the admin socket's mode is %v, want 0600", fi.Mode().Perm())
	}
	resp, err := httpguard.UnixClient(sock, 30*time.Second).Post("http://admin/nodes/"+victim+"/remove", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("remove on the admin socket: %s", resp.Status)
	}
	w.eventually(10*time.Second, "the removed node leaves the configuration", func() bool { return members() == 2 })
}
