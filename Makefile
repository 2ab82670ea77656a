# vrender: common tasks. `make demo` renders every example to out/ and `make serve` runs the service
# with the Studio page; `make test` runs the whole suite.
CARGO ?= cargo
EXAMPLES := $(wildcard examples/*.json)
PORT ?= 3001
# `make serve`: the examples' media are the asset root, so the Studio previews and renders them.
ASSET_ROOTS ?= $(CURDIR)/examples

.PHONY: deps test-deps build demo test lint bench serve

# What vrender needs to run.
deps:
	bash scripts/install-deps.sh

# What only the tests need (the S3-protocol server, chromium + selenium for the Studio test).
test-deps:
	bash scripts/install-test-servers.sh

build: deps
	$(CARGO) build --release -p vrender-service

# `make demo` only renders, so it builds vrender without the distributed parts (S3, Redis, MongoDB:
# cargo features, on by default), about a third less to compile cold; `make build` and `make serve`
# build the whole service.
demo: deps
	$(CARGO) build --release -p vrender-service --no-default-features
	@mkdir -p out
	@set -e; for f in $(EXAMPLES); do \
	  name=$$(basename $$f .json); \
	  echo "rendering $$f -> out/$$name.mp4"; \
	  $${CARGO_TARGET_DIR:-target}/release/vrender render $$f -o out/$$name.mp4; \
	done
	@echo "Studio: run 'make serve', then open http://127.0.0.1:$(PORT)/ to edit, preview and render these projects"

# Clippy lints as the compiler of the workspace crates in the test build itself: clippy-driver is
# rustc plus clippy's lints, run exactly as `cargo clippy` runs it (its arguments in CLIPPY_ARGS), so
# the lints need no second, check-only pass over the whole dependency graph (issue 25). The build
# covers every target (`--all-targets`, as `cargo clippy --all-targets`), and warnings are errors.
# `make lint` is the plain `cargo clippy`.
CLIPPY_BUILD = RUSTC_WORKSPACE_WRAPPER="$$(rustc --print sysroot)/bin/clippy-driver" \
	CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# `make test`: rustfmt first (seconds); the test servers install (when missing) beside the build,
# which leaves a core idle at times; the tests start once both are done.
test: deps
	$(CARGO) fmt --all --check
	@set -e; \
	bash scripts/install-test-servers.sh & servers=$$!; \
	if ! $(CLIPPY_BUILD) $(CARGO) build --workspace --all-targets --locked; then \
	  wait $$servers || true; exit 1; \
	fi; \
	wait $$servers; \
	$(CLIPPY_BUILD) $(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	$(CARGO) run --release -p vrender-bench -- --project examples/s1.json $(BENCH_ARGS)

serve: build
	@echo "Studio: http://127.0.0.1:$(PORT)/  (API docs: http://127.0.0.1:$(PORT)/api/docs)"
	PORT=$(PORT) ASSET_ROOTS=$(ASSET_ROOTS) $${CARGO_TARGET_DIR:-target}/release/vrender serve
