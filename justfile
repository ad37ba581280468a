# OutLayer tasks. Every recipe is a plain Go (or shell) command, so nothing
# here needs `just`; it only saves typing. Install just with `npm install -g rust-just`.

# Run every test (the same command CI runs).
test:
    go test ./...

# Run the benchmarks whose numbers are in the README.
bench:
    go test -run '^$' -bench . -benchmem ./...

# Build the outlayerd binary into ./bin.
build:
    go build -o bin/outlayerd ./cli/outlayerd

# Check formatting and vet, as CI does.
check:
    test -z "$(gofmt -l $(git ls-files '*.go'))"
    go vet ./...

# Rebuild the contract .wasm artifacts and rewrite contracts/SHA256SUMS.
contracts:
    contracts/build.sh

# Rebuild the contracts in a temp dir and compare with the committed bytes; run the Rust unit tests.
contracts-check:
    contracts/build.sh --check
    contracts/build.sh --test
