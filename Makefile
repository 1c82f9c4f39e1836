# Cartwheel — see README.md. `make run` and `make test` are the two commands.

GO       ?= go
# The Arrow loader makes DuckDB bulk loads about three times faster; a plain
# `go build` (no tag) uses the row Appender and behaves the same.
TAGS     ?= duckdb_arrow
GOFLAGS_ := -tags=$(TAGS)
BIN      := bin/cartwheel
# Packages cheap enough to run under the race detector.
RACE_PKGS := ./streaming/... ./warehouse/... ./broker/... ./producer/... ./api/... ./appliance/... ./generator/... ./models/...

.PHONY: build run test test-unit test-e2e bench lint fuzz clean

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

bench: build
	$(GO) test $(GOFLAGS_) -run '^$$' -bench . -benchmem ./streaming/... ./generator/...
	$(GO) test $(GOFLAGS_) -count=1 -timeout 60m -run '^TestBench' -v ./e2e/... -bench-figures

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet $(GOFLAGS_) ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./streaming/

clean:
	rm -rf bin
