// Package httpguard hardens the node's HTTP listeners.
//
// The public API is meant to be reachable from anywhere, including, by
// accident, from web pages in the operator's browser; the admin API must be
// reachable only by the operator. This package gives both the same
// server limits (header, read, write and idle timeouts, a cap on accepted
// connections, a bound on request bodies) so a slow or idle client cannot
// hold the server's goroutines, and gives the public API two browser
// defences: a Host allow-list (DNS rebinding: a page whose name resolves to
// 127.0.0.1 still sends its own name as Host) and writes only with
// Content-Type application/json (a cross-origin page can send text/plain
// without asking, but not application/json). The admin API listens on a
// unix socket that only the node's own user can open.
package httpguard
