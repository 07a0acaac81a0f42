# Portcullis: `make demo` runs the whole system locally; `make test` runs every test.
GO      ?= go
BIN     := bin/portcullis
PKGS    := ./...

.PHONY: all build demo test test-deps vet fuzz bench bench-go clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

demo: build
	./$(BIN) demo

# test installs what the suite needs (PostgreSQL binaries, squid) when missing, then runs vet and
# every test, the race detector on the concurrent packages, and a short fuzz pass.
test: test-deps vet
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -race -timeout 10m ./ticket/... ./relay/... ./gateway/...
	$(MAKE) fuzz FUZZTIME=5s

test-deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./ticket/
	$(GO) test -run '^$$' -fuzz '^FuzzReadHello$$' -fuzztime $(FUZZTIME) ./relay/
	$(GO) test -run '^$$' -fuzz '^FuzzReadBundle$$' -fuzztime $(FUZZTIME) ./policy/
	$(GO) test -run '^$$' -fuzz '^FuzzDecisionFilter$$' -fuzztime $(FUZZTIME) ./gateway/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenChunk$$' -fuzztime $(FUZZTIME) ./relay/relayhttp/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME) ./relay/relayhttp/
	$(GO) test -run '^$$' -fuzz '^FuzzSignedHeartbeat$$' -fuzztime $(FUZZTIME) ./gateway/
	$(GO) test -run '^$$' -fuzz '^FuzzParseExpiryWarning$$' -fuzztime $(FUZZTIME) ./endpoint/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEndNotice$$' -fuzztime $(FUZZTIME) ./endpoint/

# bench-go runs every Go benchmark once; the decision-log queries run on a million records per
# store.
BENCHTIME ?= 1s
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

# bench measures Portcullis beside the limit and beside OpenSSH on this machine (never part of
# test): it installs OpenSSH and socat when missing, starts everything on loopback, prints a
# table and writes bench/results.json. BENCHFLAGS passes options, e.g. BENCHFLAGS=-strict.
BENCHFLAGS ?=
bench: build
	./scripts/bench-deps.sh
	$(GO) run ./bench -bin $(BIN) -out bench/results.json $(BENCHFLAGS)

clean:
	rm -rf bin
