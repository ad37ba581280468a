#!/usr/bin/env bash
# Build OutLayer's NEAR contracts (and the devchain's example contracts)
# reproducibly with Debian's rustc, and record their sha256.
#
#   contracts/build.sh          rebuild every .wasm in place and rewrite contracts/SHA256SUMS
#   contracts/build.sh --check  rebuild into a temp dir; exit 1 with a hash diff if any
#                               committed .wasm or SHA256SUMS differs from the rebuild
#   contracts/build.sh --test   run the Rust unit tests natively: the shared code
#                               (JSON, numbers, base64/hex/base58, account ids) and
#                               the result claim against contracts/testdata/claim_vectors.json
#
# Requirements: /usr/bin/rustc 1.63 with the wasm32-unknown-unknown std
# (Debian: rustc, libstd-rust-dev-wasm32, lld). No cargo, no network.
# Set RUSTC to use another compiler (the hashes will then differ).
#
# Reproducibility: every build runs with the same flags, one codegen unit,
# no debug info, stripped symbols, and the checkout path remapped to
# /outlayer, so the bytes do not depend on where the tree is checked out.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUSTC=${RUSTC:-/usr/bin/rustc}

# name  source (relative to ROOT)  output (relative to ROOT)
ARTIFACTS=(
	"outlayer contracts/rust/outlayer/outlayer.rs contracts/wasm/outlayer.wasm"
	"register contracts/rust/register/register.rs contracts/wasm/register.wasm"
	"token contracts/rust/token/token.rs contracts/wasm/token.wasm"
	"counter testnet/examples/contracts/counter/counter.rs testnet/examples/contracts/wasm/counter.wasm"
	"xcc testnet/examples/contracts/xcc/xcc.rs testnet/examples/contracts/wasm/xcc.wasm"
	"yieldpair testnet/examples/contracts/yieldpair/yieldpair.rs testnet/examples/contracts/wasm/yieldpair.wasm"
	"panicker testnet/examples/contracts/panicker/panicker.rs testnet/examples/contracts/wasm/panicker.wasm"
	"caller testnet/examples/contracts/caller/caller.rs testnet/examples/contracts/wasm/caller.wasm"
	"vrfcheck testnet/examples/contracts/vrfcheck/vrfcheck.rs testnet/examples/contracts/wasm/vrfcheck.wasm"
)

SUMS=contracts/SHA256SUMS

die() {
	echo "build.sh: $*" >&2
	exit 1
}

[ -x "$RUSTC" ] || die "rustc not found at $RUSTC (install Debian's rustc, libstd-rust-dev-wasm32 and lld)"

# build_all DEST: compile every artifact to DEST/<output path>.
build_all() {
	local dest=$1 entry name src out
	for entry in "${ARTIFACTS[@]}"; do
		read -r name src out <<<"$entry"
		[ -f "$ROOT/$src" ] || die "missing source $src"
		mkdir -p "$dest/$(dirname "$out")"
		(cd "$ROOT" && "$RUSTC" \
			--edition 2021 \
			--crate-type cdylib \
			--crate-name "$name" \
			--target wasm32-unknown-unknown \
			-C opt-level=z \
			-C lto=fat \
			-C codegen-units=1 \
			-C panic=abort \
			-C debuginfo=0 \
			-C strip=symbols \
			-D warnings \
			--remap-path-prefix "$ROOT=/outlayer" \
			-o "$dest/$out" \
			"$src") || die "compiling $src failed"
		check_features "$dest/$out"
	done
}

# NEAR accepts MVP wasm plus a few post-MVP features; keep to plain MVP
# (+ mutable globals) so the contracts run on every protocol version.
check_features() {
	if command -v wasm-validate >/dev/null 2>&1; then
		wasm-validate --disable-sign-extension --disable-bulk-memory \
			--disable-reference-types --disable-saturating-float-to-int \
			--disable-multi-value --disable-simd "$1" ||
			die "$1 uses wasm features beyond MVP"
	fi
}

# sums DIR: the sha256 list of every artifact under DIR, paths relative to ROOT.
sums() {
	local dir=$1 entry name src out
	for entry in "${ARTIFACTS[@]}"; do
		read -r name src out <<<"$entry"
		(cd "$dir" && sha256sum "$out")
	done
}

case "${1:-}" in
"")
	build_all "$ROOT"
	sums "$ROOT" >"$ROOT/$SUMS"
	cat "$ROOT/$SUMS"
	;;
--check)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	build_all "$tmp"
	sums "$tmp" >"$tmp/rebuilt.sums"
	status=0
	if ! diff -u "$ROOT/$SUMS" "$tmp/rebuilt.sums"; then
		echo "build.sh --check: committed $SUMS differs from a fresh build (diff above: - committed, + rebuilt)" >&2
		status=1
	fi
	if ! (cd "$ROOT" && sha256sum --quiet -c "$SUMS"); then
		echo "build.sh --check: committed .wasm files do not match $SUMS" >&2
		status=1
	fi
	[ $status -eq 0 ] && echo "build.sh --check: all artifacts are byte-identical to a fresh build"
	exit $status
	;;
--test)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# The env host imports stay unresolved: no test calls them.
	(cd "$ROOT" && "$RUSTC" --edition 2021 --test -D warnings \
		-C link-arg=-Wl,--unresolved-symbols=ignore-all \
		-o "$tmp/common_tests" contracts/rust/common/tests.rs) || die "compiling the Rust unit tests failed"
	(cd "$ROOT" && "$RUSTC" --edition 2021 --test -D warnings \
		-C link-arg=-Wl,--unresolved-symbols=ignore-all \
		-o "$tmp/claim_tests" contracts/rust/outlayer/claim_tests.rs) || die "compiling the claim unit tests failed"
	"$tmp/common_tests"
	"$tmp/claim_tests"
	;;
*)
	echo "usage: contracts/build.sh [--check|--test]" >&2
	exit 2
	;;
esac
