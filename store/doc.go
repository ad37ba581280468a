// Package store is the bbolt schema of a node's replica: execution requests
// with their leases, attempts and results, the chain cursor, WASM blobs with
// their source index and LRU accounting, cluster nodes, per-node agreement
// counters (k-of-n executors: who agreed with the majority, who dissented),
// sealed keystore state, programs' key-value storage (progstore.go) and the
// record of what each run observed from outside. It knows nothing of Raft.
//
// The consensus FSM decodes a replicated command and calls one Tx method (or
// several inside one Store.Update, for a Raft batch). Every rule of the
// request lifecycle lives here, inside bbolt transactions, and every method
// is deterministic: time is an argument (the leader's clock carried in the
// command), so replicas that apply the same commands hold the same bytes
// (compare them with Store.Digest).
//
// Lifecycle (see DESIGN.md for the full table):
//
//	Enqueue ─▶ queued ─Assign─▶ assigned ─Complete─▶ completed ─MarkResolved─▶ resolved
//	              ▲                │  (lease expired)                ▲
//	              └─RequeueExpired─┤                                 │
//	                               └─(out of attempts)─▶ failed ─────┘
//	Enqueue (request cannot be executed) ─▶ failed;  Fail: queued|assigned ─▶ failed
//	any non-terminal ─MarkExpired─▶ expired
//
// A request assigned with k > 1 (AssignAgreeing) goes back to queued after
// each executor's Complete until k results agree and form a strict
// majority; then it is completed with the majority's result.
//
// Settled requests leave only by PruneRequests (retention.go), which checks
// each id again; the highest pruned id is remembered so a pruned request is
// never enqueued again. Program storage is bounded per program and, with
// ProgEffects.Budget, for all programs together; DropProgStorage deletes a
// program's storage (a project deleted on chain).
//
// Snapshot and Restore stream a whole bbolt file for Raft snapshots (a
// compacted copy once a quarter of the file is free); Restore refuses a
// corrupt or newer-schema snapshot and leaves the state untouched.
package store
