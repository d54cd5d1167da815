# gracevisor — build, test, run the demo, benchmark.
GO      ?= go
BIN     := bin
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit both binaries are built from (12 hex digits, "-dirty" with uncommitted or untracked
# changes, as the go command's own vcs stamp counts them); empty outside git, where
# buildinfo.ID falls back to that stamp.
BUILD_ID ?= $(shell r=$$(git rev-parse --short=12 HEAD 2>/dev/null) && \
	{ [ -z "$$(git status --porcelain 2>/dev/null)" ] || r=$$r-dirty; echo $$r; })
LDFLAGS := -X main.version=$(VERSION) -X main.buildID=$(BUILD_ID)

PREFIX  ?= /usr/local
DESTDIR ?=
# make deb: the architectures to cross-compile for, and where the packages go.
DEB_ARCHES ?= amd64 arm64
DIST       ?= dist
# dpkg-deb's compression: xz (smallest) or gzip (faster, for tests).
DEB_COMPRESS ?= xz

.PHONY: all build test run bench bench-idle lint fuzz install deb clean

all: build

## build: compile gracevisord, gracevisorctl and demoapp into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/gracevisord ./cmd/gracevisorctl ./cmd/demoapp

## test: formatting, vet, then every test (and fuzz seed corpus) under the race detector
test: lint
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@# The portable (non-Linux) copy path, run on Linux through a build tag.
	$(GO) test -race -count=1 -tags l4proxy_portable ./l4proxy/

## run: build, then run gracevisord in the foreground fronting the demo app on localhost:8080
run: build
	@mkdir -p log
	./$(BIN)/gracevisord --conf scripts/demo --log-stderr

## bench: side-by-side benchmarks (see scripts/bench); falls back to the Go proxy benchmarks
bench: build
	@if [ -x scripts/bench/run.sh ]; then scripts/bench/run.sh; \
	else $(GO) test -run '^$$' -bench . -benchtime 2s ./l4proxy/; fi

## bench-idle: only the idle-connection step of make bench, with N connections per proxy
## (make bench-idle N=100000; needs root or a hard nofile limit above 3×N, see docs/performance.md)
N ?= 10000
bench-idle: build
	scripts/bench/run.sh -only idle -idle $(N)

## lint: gofmt and go vet must be clean, here and for darwin and freebsd
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=freebsd $(GO) vet $(PKGS)

## fuzz: run the config loader fuzzer for a while (the seed corpus runs in `make test`)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./config/

## install: binaries to $(PREFIX)/bin, an example config, the log folder, systemd unit and init.d script
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/gracevisor/conf.d $(DESTDIR)/var/log/gracevisor \
		$(DESTDIR)/lib/systemd/system $(DESTDIR)/etc/init.d
	install -m 0755 $(BIN)/gracevisord $(BIN)/gracevisorctl $(DESTDIR)$(PREFIX)/bin/
	@# Never overwrite an operator's config.
	[ -e $(DESTDIR)/etc/gracevisor/gracevisor.yaml ] || \
		install -m 0644 scripts/gracevisor.example.yaml $(DESTDIR)/etc/gracevisor/gracevisor.yaml
	sed 's|/usr/local/bin|$(PREFIX)/bin|g' scripts/systemd/gracevisord.service > $(DESTDIR)/lib/systemd/system/gracevisord.service
	chmod 0644 $(DESTDIR)/lib/systemd/system/gracevisord.service
	sed 's|/usr/local/bin|$(PREFIX)/bin|g' scripts/init.d/gracevisord > $(DESTDIR)/etc/init.d/gracevisord
	chmod 0755 $(DESTDIR)/etc/init.d/gracevisord

## deb: dist/gracevisor_<version>_<arch>.deb for each of DEB_ARCHES (static binaries, CGO off);
## the Debian version is mapped from VERSION (make deb VERSION=1.2.3); see scripts/deb/build.sh
deb:
	@for arch in $(DEB_ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -buildmode=pie -ldflags '-s -w $(LDFLAGS)' \
			-o $(BIN)/linux_$$arch/ ./cmd/gracevisord ./cmd/gracevisorctl || exit 1; \
		DEB_COMPRESS=$(DEB_COMPRESS) scripts/deb/build.sh '$(VERSION)' $$arch $(BIN)/linux_$$arch $(DIST) || exit 1; \
	done

clean:
	rm -rf $(BIN) log $(DIST)
