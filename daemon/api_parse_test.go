package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestIDAndLimitParsing drives the one parser of path request ids
// and ?limit that the API, the host API and the dashboard share, with the
// inputs that must be refused.
func TestRequestIDAndLimitParsing(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathRequestID(w, r)
		if !ok {
			return
		}
		limit, err := parseLimit(r, 50, 500)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %d", id, limit)
	})
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/r/7", "7 50", 200},
		{"/r/0?limit=3", "0 3", 200},
		{"/r/18446744073709551615?limit=100000", "18446744073709551615 500", 200},
		{"/r/x", `request id \"x\" is not a request id`, 400},
		{"/r/-1", `request id \"-1\" is not a request id`, 400},
		{"/r/18446744073709551616", "is not a request id", 400},
		{"/r/1?limit=0", `limit "0" must be a positive number`, 400},
		{"/r/1?limit=-2", "must be a positive number", 400},
		{"/r/1?limit=ten", "must be a positive number", 400},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %d %q, want %d containing %q", c.path, rec.Code, rec.Body.String(), c.code, c.want)
		}
	}
	if _, err := parseRequestID("after", "1e3"); err == nil || !strings.Contains(err.Error(), `after "1e3"`) {
		t.Errorf("after=1e3: %v", err)
	}
}
