// Package hostcall is the node's answer to a program's outlayer_v1 host
// calls (exec/hostabi): a Session per run serves outbound HTTP through the
// egress client (the program's manifest allowlist and the SSRF guard),
// storage from the replicated store with the run's writes kept aside, VRF
// from the keystore's key, and NEAR views at one pinned block, all within
// per-run limits. The daemon wraps a Session in a hostabi.Recorder, so
// every answer lands in the run's record; after the run, Effects is the
// run's storage transaction for the consensus Complete command.
//
// `outlayerd exec` uses the same Session with local services (a bbolt file
// for storage, a local VRF key, an RPC URL), so a program behaves the same
// on a laptop as on the cluster.
package hostcall
