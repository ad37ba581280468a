package outlayer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// Header is an HTTP header, as net/http's: canonical names to values.
type Header map[string][]string

// Get returns the first value of name.
func (h Header) Get(name string) string {
	if v := h[canonical(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces name's values with value.
func (h Header) Set(name, value string) { h[canonical(name)] = []string{value} }

// Add appends value to name's values.
func (h Header) Add(name, value string) { h[canonical(name)] = append(h[canonical(name)], value) }

func canonical(name string) string {
	b := []byte(strings.ToLower(name))
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		upper = c == '-'
	}
	return string(b)
}

// Request is an outbound HTTP request.
type Request struct {
	Method string // "" means GET
	URL    string
	Header Header
	Body   []byte
}

// Response is the answer to a Request (redirects already followed).
type Response struct {
	StatusCode int
	Header     Header
	Body       []byte
}

// Client sends requests through the node. Its zero value is ready; it is
// shaped like net/http's Client for the common calls.
type Client struct{}

// DefaultClient is the Client the package-level functions use.
var DefaultClient = &Client{}

// Get fetches url with GET.
func Get(url string) (*Response, error) { return DefaultClient.Get(url) }

// Post sends body to url with POST and the given content type.
func Post(url, contentType string, body []byte) (*Response, error) {
	return DefaultClient.Post(url, contentType, body)
}

// Do sends req.
func Do(req *Request) (*Response, error) { return DefaultClient.Do(req) }

// Get fetches url with GET.
func (c *Client) Get(url string) (*Response, error) { return c.Do(&Request{Method: "GET", URL: url}) }

// Post sends body to url with POST and the given content type.
func (c *Client) Post(url, contentType string, body []byte) (*Response, error) {
	return c.Do(&Request{Method: "POST", URL: url, Header: Header{"Content-Type": {contentType}}, Body: body})
}

// Do sends req and returns the response, whatever its status. The node
// refuses hosts the program did not declare, addresses that are not on the
// public internet (ErrDenied) and requests past the run's limits
// (ErrLimit); a connection that fails is ErrFailed.
func (c *Client) Do(req *Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	var hdr strings.Builder
	for _, name := range names {
		for _, v := range req.Header[name] {
			hdr.WriteString(name + ": " + v + "\n")
		}
	}
	enc := fields([]byte(method), []byte(req.URL), []byte(hdr.String()), req.Body)
	ans, err := bytesCall("http_fetch", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawHTTPFetch(ptr(enc), uint32(len(enc)), out, outCap)
	})
	if err != nil {
		return nil, err
	}
	fs, err := splitFields(ans)
	if err != nil || len(fs) != 3 {
		return nil, fmt.Errorf("outlayer: malformed HTTP answer from the node")
	}
	status, err := strconv.Atoi(string(fs[0]))
	if err != nil {
		return nil, fmt.Errorf("outlayer: malformed HTTP status %q from the node", fs[0])
	}
	resp := &Response{StatusCode: status, Header: Header{}, Body: fs[2]}
	for _, line := range strings.Split(string(fs[1]), "\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			resp.Header.Add(name, value)
		}
	}
	return resp, nil
}
