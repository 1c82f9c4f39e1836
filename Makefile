# Cartwheel — see README.md. `make run` and `make test` are the two commands.

GO       ?= go
SHELL    := /bin/bash
# The Arrow loader makes DuckDB bulk loads about three times faster; a plain
# `go build` (no tag) uses the row Appender and behaves the same.
TAGS     ?= duckdb_arrow
GOFLAGS_ := -tags=$(TAGS)
BIN      := bin/cartwheel
# Packages cheap enough to run under the race detector.
RACE_PKGS := ./event/... ./result/... ./streaming/... ./warehouse/... ./broker/... ./producer/... ./api/... ./appliance/... ./generator/... ./models/... ./project/... ./internal/... ./cmd/... ./dashboard/... ./pgwire/... ./dag/... ./scheduler/...
# The dashboard's page: npm installs uPlot and esbuild from web/package-lock.json,
# esbuild bundles web/src into dashboard/ui/dist (git-ignored), which the
# binary embeds with go:embed.
NPM      ?= npm
UI_DEPS  := web/node_modules/.package-lock.json
UI       := dashboard/ui/dist/app.js

.PHONY: build ui run test test-unit test-e2e torture fuzz-one bench lint fuzz clean

build: ui
	$(GO) build $(GOFLAGS_) -o $(BIN) ./cmd/cartwheel

ui: $(UI)

$(UI_DEPS): web/package.json web/package-lock.json
	$(NPM) --prefix web ci --no-audit --no-fund
	@touch $@

$(UI): $(UI_DEPS) web/build.mjs $(wildcard web/src/*)
	$(NPM) --prefix web run --silent build

run: build
	./$(BIN) run

# Everything: vet, unit tests (race detector), the loader without the tag,
# and the end-to-end suite on DuckDB and on PostgreSQL (testcontainers).
test: ui lint test-unit test-e2e

test-unit: ui
	$(GO) test $(GOFLAGS_) -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -run 'Store|Query' ./warehouse/...

test-e2e:
	$(GO) test $(GOFLAGS_) -count=1 -timeout 45m ./e2e/...

# Figures, not assertions: Go benchmarks, the open-session memory, the
# whole-pipeline benchmarks (events/s, replay vs DuckDB SQL, freshness,
# PostgreSQL), the 10M-event model build, the dashboard's panel queries at
# 10M events and its start-up (5 runs of the browser test). Compare within
# one run.
bench: build
	$(GO) test $(GOFLAGS_) -run '^$$' -bench . -benchmem ./event/... ./streaming/... ./generator/... ./warehouse/...
	CARTWHEEL_FIGURES=1 $(GO) test $(GOFLAGS_) -count=1 -run '^TestFigure' -v ./streaming/ ./warehouse/ | grep FIGURE
	$(GO) test $(GOFLAGS_) -count=1 -timeout 60m -run '^TestBenchFigures$$' -v ./e2e/ -bench-figures | grep -v '^\s*time='
	CARTWHEEL_BENCH=1 $(GO) test $(GOFLAGS_) -count=1 -timeout 30m -run '^TestBuildFigures$$' -v ./models/
	CARTWHEEL_BENCH=1 $(GO) test $(GOFLAGS_) -count=1 -timeout 30m -run '^TestPanelFigures$$' -v ./dashboard/ | grep -vE '^(=== RUN|--- PASS|PASS$$|ok )'
	CARTWHEEL_BENCH=1 $(GO) test $(GOFLAGS_) -count=1 -timeout 10m -run '^TestSchedulerFigures$$' -v ./scheduler/ | grep FIGURE
	CARTWHEEL_BENCH=1 $(GO) test $(GOFLAGS_) -count=1 -timeout 30m -run '^TestPgwireFigures$$' -v ./pgwire/ | grep FIGURE
	$(GO) test $(GOFLAGS_) -count=5 -timeout 20m -run '^TestDashboardInBrowser$$' -v ./dashboard/ | grep -o 'FIGURE dashboard.*'

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet $(GOFLAGS_) ./...

# Crashes, concurrent starts, outages, a full disk, hostile input and
# clients (e2e/torture_*_test.go, build tag torture), then each fuzz target
# for FUZZTIME. Each case prints one "TORTURE case: figures" line.
FUZZTIME ?= 2m
# package:target, every fuzz target of the repository.
FUZZ_TARGETS := ./event/:FuzzDecode ./warehouse/:FuzzCountStatements ./models/:FuzzSelector ./models/:FuzzTemplate ./pgwire/:FuzzRewrite

torture: ui
	$(GO) test $(GOFLAGS_),torture -count=1 -timeout 60m -run '^TestTorture' -v ./e2e/ 2>&1 | tee /tmp/cartwheel-torture.log | grep -E '^(TORTURE|--- FAIL|FAIL|ok|panic)' ; test $${PIPESTATUS[0]} -eq 0
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-one PKG=$${t%%:*} TARGET=$${t##*:} || exit 1; done

# One fuzz target for FUZZTIME, as one TORTURE line (scripts/fuzz-one.sh).
fuzz-one:
	@bash scripts/fuzz-one.sh $(GO) $(PKG) $(TARGET) $(FUZZTIME)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./event/

clean:
	rm -rf bin web/node_modules
	find dashboard/ui/dist -type f ! -name README.md -delete
