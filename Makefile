# vertex-passthrough: see README.md. `make test` is what CI runs (.ci/run).
SHELL := bash
CARGO ?= cargo
# The harness and scripts look for the filter under <repo>/target, wherever cargo would put it.
export CARGO_TARGET_DIR := $(CURDIR)/target
WASM := target/wasm32-wasip1/release/vertex_passthrough.wasm

.PHONY: setup build test lint run clean

## setup: install the wasm target and Envoy (into .tools/); fast when already done
setup:
	@scripts/setup.sh

## build: the filter, at target/wasm32-wasip1/release/vertex_passthrough.wasm
build: setup
	$(CARGO) build -p vertex-passthrough --release --target wasm32-wasip1
	@ls -l $(WASM)

## test: the filter's unit tests (native), then the integration tests (real Envoy + emulators)
test: setup
	$(CARGO) test -p vertex-passthrough
	$(MAKE) --no-print-directory build
	$(CARGO) test -p vertex-passthrough-tests

## lint: formatting, and clippy with warnings as errors (natively and for the wasm target)
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p vertex-passthrough --target wasm32-wasip1 -- -D warnings

## run: Envoy with the filter on :4000, in front of a local Google emulator
run:
	@scripts/run.sh

## clean: build outputs and the local stack's files (keeps .tools/)
clean:
	$(CARGO) clean
	rm -rf .run
