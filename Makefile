# PIN Client — every CI step is a target here; .ci/run only installs the system
# packages and calls these targets in order. Run `make help` for the list.

GO      ?= go
BIN     ?= bin
DIST    ?= dist

# VERSION is stamped into internal/version by -ldflags -X. Default: the base release,
# plus `git describe` when this is a git checkout that is not exactly at tag v3.0.0.
# Override with `make VERSION=3.0.1 build`.
BASE_VERSION := 3.0.0
GIT_DESCRIBE := $(shell git describe --tags --always --dirty 2>/dev/null)
ifeq ($(GIT_DESCRIBE),)
VERSION ?= $(BASE_VERSION)
else ifeq ($(GIT_DESCRIBE),v$(BASE_VERSION))
VERSION ?= $(BASE_VERSION)
else
VERSION ?= $(BASE_VERSION)+$(GIT_DESCRIBE)
endif

LDFLAGS  := -s -w -X github.com/pin-client/pin-client/internal/version.Version=$(VERSION)
GOBUILD  := $(GO) build -trimpath -ldflags '$(LDFLAGS)'

# Fuzzing: each Fuzz target runs for FUZZTIME (one package and one target per go test).
FUZZTIME ?= 30s
# Relay benchmark report (bench/relaybench), and extra flags such as -quick or -v.
BENCH_OUT  ?= bench/results.json
BENCH_ARGS ?=
# Pinned Fyne packaging tool (reads FyneApp.toml next to the root main.go).
FYNE_TOOL ?= fyne.io/tools/cmd/fyne@v1.7.4
# pin-clientd release targets (pure Go).
CROSS_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

.PHONY: help all build build-daemon build-gui run run-daemon test fuzz bench lint cross \
        package screenshots e2e keyring-test ci clean soak soak-quick

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

all: lint build test ## lint, build and test

build: build-daemon build-gui ## build bin/pin-clientd (no cgo) and bin/pin-client (GUI, cgo)

build-daemon:
	CGO_ENABLED=0 $(GOBUILD) -o $(BIN)/pin-clientd ./cmd/pin-clientd

build-gui:
	CGO_ENABLED=1 $(GOBUILD) -o $(BIN)/pin-client .

run: ## start the desktop app
	$(GO) run -ldflags '$(LDFLAGS)' .

run-daemon: ## start the daemon; pass flags with ARGS='-c config.json'
	CGO_ENABLED=0 $(GO) run -ldflags '$(LDFLAGS)' ./cmd/pin-clientd $(ARGS)

test: ## go test -race over the whole module (needs the Fyne apt packages, see README.md, "Building, testing and CI")
	$(GO) test -race -count=1 ./...

fuzz: ## run every Fuzz* target for FUZZTIME each (found with grep, new ones included)
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./.ci/fuzz.sh

bench: ## relay benchmark, direct vs relayed, both transports: table + BENCH_OUT (BENCH_ARGS=-quick for a smoke run)
	$(GO) run ./bench/relaybench -out $(BENCH_OUT) $(BENCH_ARGS)

lint: ## gofmt must list nothing; go vet must pass; shell and node scripts must parse
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt: these files need 'gofmt -w':"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for f in .ci/run $$(find .ci e2e scripts -name '*.sh' 2>/dev/null); do bash -n $$f || exit 1; done
	@if command -v node >/dev/null; then for f in $$(find e2e -name '*.mjs' -not -path '*/node_modules/*'); do node --check $$f || exit 1; done; fi

cross: ## pin-clientd for linux/darwin/windows x amd64/arm64 into dist/
	@mkdir -p $(DIST)
	@set -e; for p in $(CROSS_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "  $$os/$$arch -> $(DIST)/pin-clientd-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $(DIST)/pin-clientd-$$os-$$arch$$ext ./cmd/pin-clientd; \
	done

# fyne package reads FyneApp.toml (name, id, icon, .desktop fields) and builds the root
# package itself; it takes -ldflags from GOFLAGS, and afterwards rewrites FyneApp.toml
# (Build+1, comments dropped), so the file is restored. Output: "dist/PIN Client.tar.xz".
package: ## the desktop app as a Linux package (dist/*.tar.xz) with the pinned fyne tool
	@mkdir -p $(DIST) $(BIN)
	GOBIN=$(CURDIR)/$(BIN) $(GO) install $(FYNE_TOOL)
	cp FyneApp.toml $(BIN)/FyneApp.toml.orig
	GOFLAGS='-ldflags=-X=github.com/pin-client/pin-client/internal/version.Version=$(VERSION)' \
		$(BIN)/fyne package -os linux --release --app-version $(BASE_VERSION); \
		rc=$$?; cp $(BIN)/FyneApp.toml.orig FyneApp.toml; exit $$rc
	mv -f ./*.tar.xz $(DIST)/
	@ls -l $(DIST)/*.tar.xz

screenshots: ## GUI screenshots (scripts/screenshots.sh)
	./scripts/screenshots.sh

e2e: ## real end-to-end: openai SDK -> local gateway -> pin-clientd -> real Ollama
	./e2e/run.sh

keyring-test: ## secret round trip through a real Secret Service (gnome-keyring in dbus)
	./.ci/keyring-test.sh

ci: ## exactly what CI runs (installs apt packages: needs root)
	./.ci/run

clean: ## remove build output
	rm -rf $(BIN) $(DIST)

# Chaos soak (issue 11): the real pin-clientd against pintest and fake backends under
# load and a seeded fault schedule; SOAK_ARGS e.g. -seed 7 -duration 10m -transport ws.
SOAK_ARGS ?=
soak: ## chaos soak of the real daemon, both transports, 10 min by default (SOAK_ARGS='-seed 2 -duration 30m')
	$(GO) run ./e2e/soak $(SOAK_ARGS)

soak-quick: ## the 2-minute soak CI runs (both transports, 1 min each)
	$(GO) run ./e2e/soak -duration 2m $(SOAK_ARGS)
