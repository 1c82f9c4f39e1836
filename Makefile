# Cartwheel — see README.md. `make run` and `make test` are the two commands.

GO       ?= go
SHELL    := /bin/bash
# The Arrow loader makes DuckDB bulk loads about three times faster; a plain
# `go build` (no tag) uses the row Appender and behaves the same.
TAGS     ?= duckdb_arrow
GOFLAGS_ := -tags=$(TAGS)
BIN      := bin/cartwheel
# Packages cheap enough to run under the race detector.
RACE_PKGS := ./event/... ./result/... ./streaming/... ./warehouse/... ./broker/... ./producer/... ./api/... ./appliance/... ./generator/... ./models/... ./project/... ./internal/... ./cmd/...

.PHONY: build run test test-unit test-e2e torture bench lint fuzz clean

build:
	$(GO) build $(GOFLAGS_) -o $(BIN) ./cmd/cartwheel

run: build
	./$(BIN) run

# Everything: vet, unit tests (race detector), the loader without the tag,
# and the end-to-end suite on DuckDB and on PostgreSQL (testcontainers).
test: lint test-unit test-e2e

test-unit:
	$(GO) test $(GOFLAGS_) -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -run 'Store|Query' ./warehouse/...

test-e2e:
	$(GO) test $(GOFLAGS_) -count=1 -timeout 45m ./e2e/...

# Figures, not assertions: Go benchmarks, the open-session memory, the
# whole-pipeline benchmarks (events/s, replay vs DuckDB SQL, freshness,
# PostgreSQL) and the 10M-event model build. Compare within one run.
bench: build
	$(GO) test $(GOFLAGS_) -run '^$$' -bench . -benchmem ./event/... ./streaming/... ./generator/... ./warehouse/...
	CARTWHEEL_FIGURES=1 $(GO) test $(GOFLAGS_) -count=1 -run '^TestFigure' -v ./streaming/ | grep FIGURE
	$(GO) test $(GOFLAGS_) -count=1 -timeout 60m -run '^TestBenchFigures$$' -v ./e2e/ -bench-figures | grep -v '^\s*time='
	CARTWHEEL_BENCH=1 $(GO) test $(GOFLAGS_) -count=1 -timeout 30m -run '^TestBuildFigures$$' -v ./models/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet $(GOFLAGS_) ./...

# Crashes, concurrent starts, outages, a full disk, hostile input and
# clients (e2e/torture_*_test.go, build tag torture), then fuzzing. Each
# case prints one "TORTURE case: figures" line.
torture:
	$(GO) test $(GOFLAGS_),torture -count=1 -timeout 60m -run '^TestTorture' -v ./e2e/ 2>&1 | tee /tmp/cartwheel-torture.log | grep -E '^(TORTURE|--- FAIL|FAIL|ok|panic)' ; test $${PIPESTATUS[0]} -eq 0

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./event/

clean:
	rm -rf bin
