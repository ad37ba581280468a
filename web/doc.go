// Package web is the dashboard every node serves at /: plain HTML, CSS and
// JavaScript modules embedded in the binary (no build step, no CDN, no
// fonts from elsewhere), which read the node's JSON API from the browser.
//
// Pages (each a stable URL the server answers with the same index.html; the
// script routes on location.pathname):
//
//	/                    overview: health, leader, members, attestation, queue, charts, chain cursor
//	/executions          live request list with filters (?sender, ?status, ?program)
//	/executions/{id}     one request, with its agreement and attestation re-checked in the browser
//	/programs            the WASM cache
//	/secrets             public key lookup, in-browser encryption, an account's profiles
//	/fees                the contract's prices and a cost estimator
//
// The attestation check (static/verify.js) and the agreement check
// (static/agreement.js: the resolve's executor signatures over the claim
// v2 that static/claim.js recomputes) repeat `outlayerd attest
// verify-result`'s checks with WebCrypto; the secrets encryption
// (static/crypto.js) is byte-compatible with `outlayerd secrets encrypt`.
// The browser tests (web_test.go) drive real Chromium against a testnet.
package web
