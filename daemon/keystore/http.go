package keystore

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/internal/httpjson"
)

// HTTPPrefix is where the daemon mounts Handler.
const HTTPPrefix = "/v1/keystore/"

// PubkeyResponse is GET /v1/keystore/pubkey's answer.
type PubkeyResponse struct {
	PublicKey string                   `json:"pubkey"` // 64 hex, X25519
	Seed      string                   `json:"seed"`
	Profile   string                   `json:"profile"`
	Owner     string                   `json:"owner"`
	Accessor  contracts.SecretAccessor `json:"accessor"` // normalised, as the contract stores it
	Format    string                   `json:"format"`
}

// PubkeyFormat describes the encryption users must apply.
const PubkeyFormat = "ecies-v1: 0x01 || x25519 ephemeral pubkey (32) || nonce (12) || chacha20-poly1305 ciphertext+tag; key = HKDF-SHA256(ECDH, info \"outlayer-keystore-v1\")"

// Handler serves, under HTTPPrefix:
//
//	GET  pubkey?repo=R[&branch=B]|wasm_hash=H&owner=A[&profile=P]   the key to encrypt to
//	POST generate   (GenerateRequest, signed by the owner)         names of the generated secrets
//	GET  status                                                    readiness and master fingerprint
//
// Errors are {"error": "..."} with 400 (bad input), 401 (bad owner
// signature), 404 (no such secrets profile), 503 (not ready).
func (k *Keystore) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HTTPPrefix+"pubkey", k.httpPubkey)
	mux.HandleFunc("POST "+HTTPPrefix+"generate", k.httpGenerate)
	mux.HandleFunc("GET "+HTTPPrefix+"status", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, k.Status())
	})
	return mux
}

func (k *Keystore) httpPubkey(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := Identity{Owner: q.Get("owner"), Profile: q.Get("profile")}
	if id.Profile == "" {
		id.Profile = DefaultProfile
	}
	switch {
	case q.Get("project") != "" && q.Get("repo") == "" && q.Get("wasm_hash") == "":
		id.Accessor.Project = &contracts.ProjectAccessor{ProjectID: q.Get("project")}
	case q.Get("repo") != "" && q.Get("wasm_hash") == "" && q.Get("project") == "":
		ra := &contracts.RepoAccessor{Repo: q.Get("repo")}
		if q.Has("branch") && q.Get("branch") != "" {
			b := q.Get("branch")
			ra.Branch = &b
		}
		if c := q.Get("commit"); c != "" {
			ra.Commit = &c
		}
		id.Accessor.Repo = ra
	case q.Get("wasm_hash") != "" && q.Get("repo") == "" && q.Get("project") == "":
		id.Accessor.WasmHash = &contracts.WasmHashAccessor{Hash: q.Get("wasm_hash")}
	default:
		httpjson.Error(w, http.StatusBadRequest, (errors.New("give exactly one of repo (with an optional branch or commit), wasm_hash and project, and owner")).Error())
		return
	}
	pub, norm, err := k.PublicKey(id)
	if err != nil {
		httpjson.Error(w, statusFor(err), (err).Error())
		return
	}
	httpjson.Write(w, http.StatusOK, PubkeyResponse{PublicKey: pub.String(), Seed: norm.Seed(), Profile: norm.Profile,
		Owner: norm.Owner, Accessor: norm.Accessor, Format: PubkeyFormat})
}

func (k *Keystore) httpGenerate(w http.ResponseWriter, r *http.Request) {
	var req GenerateRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, (errors.New("the body must be a signed generate request: " + err.Error())).Error())
		return
	}
	names, err := k.Generate(r.Context(), req)
	if err != nil {
		httpjson.Error(w, statusFor(err), (err).Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"names": names})
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrNEARView):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrSecretsNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadIdentity), errors.Is(err, ErrBadSecrets):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
