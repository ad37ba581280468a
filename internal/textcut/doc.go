// Package textcut shortens text to a byte budget for messages that travel
// (errors on chain, build logs, RPC answers quoted in errors): one way to
// cut, on a UTF-8 boundary, with one marker saying that text was dropped.
package textcut
