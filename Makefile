# gracevisor — build, test, run the demo, benchmark.
GO      ?= go
BIN     := bin
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build test run bench lint fuzz clean

all: build

## build: compile gracevisord, gracevisorctl and demoapp into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/gracevisord ./cmd/gracevisorctl ./cmd/demoapp

## test: formatting, vet, then every test (and fuzz seed corpus) under the race detector
test: lint
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## run: build, then run gracevisord in the foreground fronting the demo app on localhost:8080
run: build
	@mkdir -p log
	./$(BIN)/gracevisord --conf scripts/demo --log-stderr

## bench: side-by-side benchmarks (see scripts/bench); falls back to the Go proxy benchmarks
bench: build
	@if [ -x scripts/bench/run.sh ]; then scripts/bench/run.sh; \
	else $(GO) test -run '^$$' -bench . -benchtime 2s ./l4proxy/; fi

## lint: gofmt and go vet must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run the config loader fuzzer for a while (the seed corpus runs in `make test`)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./config/

clean:
	rm -rf $(BIN) log
