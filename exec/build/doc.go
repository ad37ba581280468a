// Package build turns a Go program in a git repository into a WASI
// preview 1 module, the way a node does for a request whose code source is
// a repository.
//
// A build clones the repository (https, or file:// and local paths when
// allowed), resolves the requested commit, branch or tag to a full sha,
// checks that the path holds a Go main package, downloads its module
// dependencies in one sandboxed step that may use the network, and
// compiles it in a second sandboxed step that may not:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -ldflags=-buildid=
//
// Both steps run in Linux namespaces set up from Go — the running binary
// re-executed as the sandbox's init (internal/reexec; see its init function) —
// with no view of the node's files other than the toolchain, the source
// and the caches, and under CPU, memory, file-size and wall-clock limits.
// Git runs under the same limits, and a commit's tree is measured (file
// count, total size) before it is checked out. The same commit built with the same
// toolchain gives the same bytes, so every node can rebuild a program and
// agree on its sha256.
//
// Failures are *Error values whose Kind (ErrRepoNotFound,
// ErrCommitNotFound, ErrNoMainPackage, ErrCompile, ErrTimeout, …) can be
// tested with errors.Is. DESIGN.md describes the sandbox and its threat
// model.
package build
