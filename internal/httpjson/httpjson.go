// Package httpjson writes JSON answers for the node's HTTP handlers (the
// API and the keystore's endpoints): one shape for bodies and errors.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers with status and v as indented JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error answers with status and {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": msg})
}
