# Portcullis: `make demo` runs the whole system locally; `make test` runs every test.
GO      ?= go
BIN     := bin/portcullis
PKGS    := ./...

.PHONY: all build demo test test-unit test-race test-fuzz test-deps vet cross test-cross fuzz bench bench-smoke bench-go clean dist test-deb

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

demo: build
	./$(BIN) demo $(if $(KEEP),--keep)

# test installs what the suite needs (PostgreSQL binaries, squid, tinyproxy, HAProxy; OpenSSH
# and socat for the bench) when missing, then runs vet, a check of windows and darwin (test-cross),
# every test, the race detector on the concurrent packages (with -short, which skips only what
# the unit pass runs in full: volume tests and PostgreSQL halves), a short fuzz pass and the bench's smoke
# pass, and installs, checks and purges the Debian packages (test-deb). Every stage runs even
# when an earlier one failed; test then fails naming each stage that failed.
TEST_STAGES := test-deps vet test-cross test-deb test-unit test-race test-fuzz bench-smoke
# test-cross checks the other operating systems in make test at a fraction of make cross's cost
# (each platform is a cold compile of every dependency on CI, tests' dependencies included): it
# builds every package for Windows, and vets, tests included, for Windows and macOS the packages
# that hold OS-specific code and whose tests need neither the policy engine nor a database
# driver (CROSS_VET). make cross builds and vets everything for every platform in PLATFORMS.
CROSS_VET := ./relay ./ticket/... ./internal/browser ./internal/privatedir ./internal/fdlimit \
	./internal/atomicfile ./internal/pgtest
test:
	@failed=""; \
	for s in $(TEST_STAGES); do \
		echo "=== make $$s"; start=$$(date +%s); \
		$(MAKE) --no-print-directory $$s || failed="$$failed $$s"; \
		echo "=== make $$s: $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi; \
	echo "make test: every stage passed"

test-unit:
	$(GO) test -count=1 -parallel 8 -timeout 15m $(PKGS)

test-race:
	$(GO) test -count=1 -race -short -parallel 4 -timeout 10m ./ticket/... ./relay/... ./gateway/...

test-fuzz:
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

test-deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

# cross type-checks and vets every package (tests included) for each platform in PLATFORMS
# (GOOS/GOARCH), goes on past a failing platform, and fails naming every one that failed. vet
# compiles every dependency for the platform and type-checks the packages themselves, so a
# separate build would only add linking.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
test-cross:
	GOOS=windows GOARCH=amd64 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) vet $(CROSS_VET)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(CROSS_VET)

cross:
	@failed=""; \
	for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "cross: $$os/$$arch"; \
		if ! GOOS=$$os GOARCH=$$arch $(GO) vet $(PKGS); then \
			failed="$$failed $$os/$$arch"; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "cross: failed on$$failed"; exit 1; fi

# Release stamps: VERSION from the newest v* tag (without the v), COMMIT and DATE (the commit's
# time, so that a rebuild of one commit is the same) from git.
VERSION ?= $(or $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//'),0.0.0-dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(or $(shell git log -1 --format=%cI 2>/dev/null),$(shell date -u +%Y-%m-%dT%H:%M:%SZ))
DIST    := $(GO) -C scripts/dist run . -repo $(CURDIR) -version $(VERSION) -commit $(COMMIT) -date $(DATE)

# dist writes the release files into dist/: an archive per platform in PLATFORMS (tar.gz, zip
# for Windows), the Debian packages (portcullis, portcullis-cm, -cs, -host) for linux/amd64 and
# linux/arm64, and SHA256SUMS. scripts/dist is its own Go module (nfpm builds the packages).
dist:
	$(DIST) -out $(CURDIR)/dist -platforms "$(PLATFORMS)" -deb "amd64 arm64"

# test-deb tests scripts/dist, packs the binary make build made into the linux/amd64 packages
# only (a release build's -trimpath and static link would compile everything again), and
# installs, checks and purges them on this machine (scripts/test-deb.sh; needs root, as CI runs).
test-deb: build
	$(GO) -C scripts/dist vet ./...
	$(GO) -C scripts/dist test -count=1 ./...
	$(DIST) -out $(CURDIR)/bin/dist-test -platforms linux/amd64 -deb amd64 -archives=false -bin $(CURDIR)/$(BIN)
	./scripts/test-deb.sh bin/dist-test

# fuzz runs every fuzz target for FUZZTIME each. make test gives each a count of inputs
# (TEST_FUZZTIME, a smoke pass; make fuzz runs each for FUZZTIME) rather than a duration: a duration ends in a race in Go's fuzz coordinator
# (golang/go#75804, fixed in Go 1.27) that fails a target with "context deadline exceeded" and no
# failing input.
FUZZTIME ?= 30s
TEST_FUZZTIME ?= 5000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzReplaySegment$$' -fuzztime $(FUZZTIME) ./ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzReadHello$$' -fuzztime $(FUZZTIME) ./relay/
	$(GO) test -run '^$$' -fuzz '^FuzzAwaitPaired$$' -fuzztime $(FUZZTIME) ./relay/
	$(GO) test -run '^$$' -fuzz '^FuzzReadBundle$$' -fuzztime $(FUZZTIME) ./policy/
	$(GO) test -run '^$$' -fuzz '^FuzzResultJSON$$' -fuzztime $(FUZZTIME) ./policy/
	$(GO) test -run '^$$' -fuzz '^FuzzApplyMask$$' -fuzztime $(FUZZTIME) ./policy/
	$(GO) test -run '^$$' -fuzz '^FuzzDecisionFilter$$' -fuzztime $(FUZZTIME) ./gateway/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenChunk$$' -fuzztime $(FUZZTIME) ./relay/relayhttp/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME) ./relay/relayhttp/
	$(GO) test -run '^$$' -fuzz '^FuzzReadFrames$$' -fuzztime $(FUZZTIME) ./relay/relayhttp/
	$(GO) test -run '^$$' -fuzz '^FuzzSignedHeartbeat$$' -fuzztime $(FUZZTIME) ./gateway/
	$(GO) test -run '^$$' -fuzz '^FuzzParseExpiryWarning$$' -fuzztime $(FUZZTIME) ./endpoint/
	$(GO) test -run '^$$' -fuzz '^FuzzProbeCacheFile$$' -fuzztime $(FUZZTIME) ./endpoint/guest/
	$(GO) test -run '^$$' -fuzz '^FuzzJoinLocal$$' -fuzztime $(FUZZTIME) ./endpoint/guest/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEndNotice$$' -fuzztime $(FUZZTIME) ./endpoint/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSFTPPacketAnswer$$' -fuzztime $(FUZZTIME) ./endpoint/
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyBundle$$' -fuzztime $(FUZZTIME) ./translog/
	$(GO) test -run '^$$' -fuzz '^FuzzLogFilter$$' -fuzztime $(FUZZTIME) ./console/
	$(GO) test -run '^$$' -fuzz '^FuzzReadPolicyArchive$$' -fuzztime $(FUZZTIME) ./console/
	$(GO) test -run '^$$' -fuzz '^FuzzParseLogin$$' -fuzztime $(FUZZTIME) ./console/

# bench-go runs every Go benchmark once; the decision-log queries run on a million records per
# store.
BENCHTIME ?= 1s
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

# bench measures Portcullis beside the limit and beside OpenSSH on this machine: it installs
# OpenSSH, socat, squid and tinyproxy when missing, starts everything on loopback, prints a table and writes
# bench/results.json. BENCHFLAGS passes options, e.g. BENCHFLAGS=-strict. Its smoke pass
# (bench-smoke: every section at a tiny size, targets unchecked, figures meaningless) is part of
# test, so that a change that breaks the harness fails there.
BENCHFLAGS ?=
bench: build
	./scripts/bench-deps.sh
	$(GO) run ./bench -bin $(BIN) -out bench/results.json $(BENCHFLAGS)

bench-smoke: build
	./scripts/bench-deps.sh
	d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && $(GO) run ./bench -bin $(BIN) -smoke -out "$$d/smoke.json"

clean:
	rm -rf bin dist
