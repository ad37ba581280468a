// Package egress is the one HTTP client for every fetch a node makes on a
// caller's behalf (a request's WasmUrl with Get; a program's HTTP calls, any method,
// with Fetch, which also checks the program's host allowlist before DNS).
//
// A URL comes from whoever posted a request on chain, so the client treats
// it as hostile: only https (plain http too when Config.AllowHTTP is set,
// which dev mode does), every redirect checked again the same way, and the
// address actually dialled — after DNS resolution, so a name that resolves
// to an internal address is caught too — refused when it is loopback,
// private, link-local (cloud metadata services live there), unspecified,
// multicast or another special-purpose range. Bodies are bounded in size
// and the whole fetch in time. Errors name the URL and what was refused,
// never anything derived from the content.
package egress
