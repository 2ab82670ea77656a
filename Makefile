# vrender: common tasks. `make demo` renders every example to out/, `make test` runs the whole suite.
CARGO ?= cargo
EXAMPLES := $(wildcard examples/*.json)

.PHONY: deps build demo test lint bench serve

deps:
	bash scripts/install-deps.sh
	bash scripts/install-test-servers.sh

build: deps
	$(CARGO) build --release -p vrender-service

demo: build
	@mkdir -p out
	@set -e; for f in $(EXAMPLES); do \
	  name=$$(basename $$f .json); \
	  echo "rendering $$f -> out/$$name.mp4"; \
	  $${CARGO_TARGET_DIR:-target}/release/vrender render $$f -o out/$$name.mp4; \
	done

test: deps
	$(CARGO) test --workspace --locked
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	$(CARGO) run --release -p vrender-bench -- --project examples/s1.json $(BENCH_ARGS)

serve: build
	$${CARGO_TARGET_DIR:-target}/release/vrender serve
