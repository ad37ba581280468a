// Package attest produces and verifies node attestations: Intel TDX quotes
// whose report data binds a node's key, a measurement policy, and a clearly
// labelled simulated mode for development.
package attest
