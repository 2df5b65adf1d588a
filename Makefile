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
	@scripts/optimize-wasm.sh $(WASM)
	@ls -l $(WASM)

## test: lint, the unit tests of the core, the adapter and vp-config (native; the copies of
## envoy/plugin-config.yaml checked), then the integration tests (real Envoy + emulators)
test: setup
	$(MAKE) --no-print-directory lint
	$(CARGO) test -p vertex-passthrough-core -p vertex-passthrough -p vp-config
	$(MAKE) --no-print-directory build
	# --tests: the suites, not the harness's doc example (CI reads the runner's last line).
	$(CARGO) test -p vertex-passthrough-tests --tests

## lint: formatting, clippy with warnings as errors (natively and for the wasm target), and
## cargo audit against the RustSec advisories (skipped, saying so, where their database is out of reach)
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p vertex-passthrough-core -p vertex-passthrough --target wasm32-wasip1 -- -D warnings
	@CARGO=$(CARGO) scripts/audit.sh

## run: Envoy with the filter on :4000 in front of a local Google emulator; with
## GOOGLE_APPLICATION_CREDENTIALS and VERTEXAI_PROJECT set, in front of the real Vertex AI
run:
	@scripts/run.sh

.PHONY: configs
## configs: envoy/plugin-config.yaml copied into each file that embeds the plugin config
## (README.md, envoy/envoy.yaml, envoy/envoy.local.yaml, the mesh manifests); `make test` fails while one differs
configs:
	$(CARGO) run -q -p vp-config -- configs

## clean: build outputs and the local stack's files (keeps .tools/)
clean:
	$(CARGO) clean
	rm -rf .run

.PHONY: bench
## bench: Envoy with the filter against bare Envoy and a trivial Wasm filter (bench/floor-filter),
## side by side under the same load, then instructions per request under callgrind (~8 min);
## prints the ratios and writes bench/RESULTS.md
bench: build
	@scripts/bench-setup.sh
	$(CARGO) build -p floor-filter --release --target wasm32-wasip1
	@scripts/optimize-wasm.sh target/wasm32-wasip1/release/floor_filter.wasm
	$(CARGO) build -p vertex-passthrough-bench --release
	target/release/vp-bench --out bench/RESULTS.md

.PHONY: fuzz setup-fuzz
FUZZ_SECONDS ?= 60
# The sanitizer build gets its own target directory: its flags differ from every other build's.
FUZZ_TARGET_DIR ?= $(CURDIR)/target/fuzz
## setup-fuzz: cargo-fuzz from crates.io, when missing (fuzzing uses the installed nightly toolchain)
setup-fuzz:
	@rustup toolchain list | grep -q '^nightly' || { echo "make fuzz needs the nightly toolchain: rustup toolchain install nightly"; exit 1; }
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

## fuzz: every fuzz target of filter/fuzz for FUZZ_SECONDS (default 60) each; prints executions and crashes
fuzz: setup-fuzz
	CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh
