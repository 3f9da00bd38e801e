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
# Windows desktop app: cross-compiled with mingw-w64 (apt: gcc-mingw-w64-x86-64) into
# WINDIR, with the resources made by scripts/winres and compiled by windres.
WIN_CC    ?= x86_64-w64-mingw32-gcc
WINDRES   ?= x86_64-w64-mingw32-windres
WINDIR    ?= $(DIST)/windows
WIN_SYSO  := rsrc_windows_amd64.syso
WIN_ZIP   := $(DIST)/pin-client-$(VERSION)-windows-amd64.zip
# Linux packages: nfpm, pinned, run with go run (not a module dependency). The packages
# are for this machine's architecture (the desktop app needs cgo for the target).
NFPM      ?= github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
PKG_ARCH  ?= $(shell $(GO) env GOARCH)
# The packages' version: VERSION with - written . (rpm forbids - in a version; in a .deb it
# would start the Debian revision), e.g. 3.0.0+v3.0.0.5.gabc1234.dirty.
PKG_VERSION := $(subst -,.,$(VERSION))

.PHONY: help all build build-daemon build-gui sysdeps-gui run demo run-daemon test fuzz bench lint vet-cross cross \
        package windows deb rpm deb-test dist screenshots e2e keyring-test ci clean soak soak-quick

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

all: lint build test ## lint, build and test

build: build-daemon build-gui ## build bin/pin-clientd (no cgo) and bin/pin-client (GUI, cgo)

build-daemon:
	CGO_ENABLED=0 $(GOBUILD) -o $(BIN)/pin-clientd ./cmd/pin-clientd

build-gui: sysdeps-gui
	CGO_ENABLED=1 $(GOBUILD) -o $(BIN)/pin-client .

# On Debian/Ubuntu the GUI's cgo headers are installed when missing (sudo when not root);
# SYSDEPS=skip turns that off.
sysdeps-gui:
	@./scripts/sysdeps.sh gui

run: sysdeps-gui ## start the desktop app (installs the GUI's build packages on Debian/Ubuntu if missing)
	$(GO) run -ldflags '$(LDFLAGS)' .

demo: sysdeps-gui ## try the desktop app without an account: local gateway, sample requests (docs/demo.md; ARGS=--builtin)
	$(GO) run -ldflags '$(LDFLAGS)' . --demo $(ARGS)

run-daemon: ## start the daemon; pass flags with ARGS='-c config.json'
	CGO_ENABLED=0 $(GO) run -ldflags '$(LDFLAGS)' ./cmd/pin-clientd $(ARGS)

test: sysdeps-gui ## go test -race over the whole module (installs the Fyne build packages on Debian/Ubuntu if missing)
	$(GO) test -race -count=1 ./...

fuzz: ## run every Fuzz* target for FUZZTIME each (found with grep, new ones included)
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./.ci/fuzz.sh

bench: ## relay benchmark, direct vs relayed, both transports at RTT 0 and 50 ms: table + BENCH_OUT (BENCH_ARGS=-quick for a smoke run, -rtt 50ms for one RTT)
	$(GO) run ./bench/relaybench -out $(BENCH_OUT) $(BENCH_ARGS)

# Pinned staticcheck, run through the module proxy (no global install).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet-cross: ## go vet for windows and darwin of every package that builds without cgo (the Fyne GUI needs cgo: make windows builds it for Windows; macOS needs a Mac)
	@pkgs=$$($(GO) list -f '{{.ImportPath}} {{join .Deps " "}} ' ./... | grep -v ' fyne.io/fyne/v2 ' | cut -d' ' -f1); \
	for os in windows darwin; do echo "go vet GOOS=$$os ($$(echo $$pkgs | wc -w) packages)"; GOOS=$$os $(GO) vet $$pkgs || exit 1; done

lint: ## gofmt must list nothing; go vet and staticcheck (pinned) must pass; shell and node scripts must parse
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt: these files need 'gofmt -w':"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@$(MAKE) --no-print-directory vet-cross
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

windows: ## Windows desktop app: dist/windows/pin-client.exe (GUI, icon, version, manifest) + pin-clientd.exe, checked; go vet of the app for Windows
	@command -v $(WIN_CC) >/dev/null && command -v $(WINDRES) >/dev/null || { \
		echo "windows: $(WIN_CC) or $(WINDRES) is missing; install mingw-w64: apt-get install gcc-mingw-w64-x86-64"; exit 1; }
	@mkdir -p $(WINDIR) $(BIN)/winres
	$(GO) run ./scripts/winres -icon assets/icon.png -version '$(VERSION)' -base $(BASE_VERSION) -out $(BIN)/winres
	$(WINDRES) -O coff -I $(BIN)/winres -i $(BIN)/winres/pin-client.rc -o $(WIN_SYSO)
	CC=$(WIN_CC) CGO_ENABLED=1 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS) -H=windowsgui' \
		-o $(WINDIR)/pin-client.exe . ; rc=$$?; rm -f $(WIN_SYSO); exit $$rc
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GOBUILD) -o $(WINDIR)/pin-clientd.exe ./cmd/pin-clientd
	$(GO) run ./scripts/checkpe -version '$(VERSION)' $(WINDIR)/pin-client.exe
	$(GO) run ./scripts/checkpe -console $(WINDIR)/pin-clientd.exe
	@echo "go vet GOOS=windows of the desktop app (cgo through $(WIN_CC)), tests included"
	CC=$(WIN_CC) CGO_ENABLED=1 GOOS=windows GOARCH=amd64 $(GO) vet -trimpath . ./app/... # -trimpath: the build above compiled the dependencies

deb: build ## Linux .deb (both binaries, .desktop, icon, systemd unit) into dist/ with nfpm
	@mkdir -p $(DIST)
	rm -f $(DIST)/pin-client_*.deb
	sed 's|$${BIN}|$(BIN)|g' packaging/nfpm.yaml > $(BIN)/nfpm.yaml
	VERSION='$(PKG_VERSION)' ARCH=$(PKG_ARCH) $(GO) run $(NFPM) package -f $(BIN)/nfpm.yaml -p deb -t $(DIST)/

rpm: build ## Linux .rpm (the same contents) into dist/ with nfpm
	@mkdir -p $(DIST)
	rm -f $(DIST)/pin-client-*.rpm
	sed 's|$${BIN}|$(BIN)|g' packaging/nfpm.yaml > $(BIN)/nfpm.yaml
	VERSION='$(PKG_VERSION)' ARCH=$(PKG_ARCH) $(GO) run $(NFPM) package -f $(BIN)/nfpm.yaml -p rpm -t $(DIST)/

deb-test: deb ## install the .deb with dpkg, check pin-clientd -V, the .desktop file and the unit, remove it (root or sudo)
	./.ci/deb-roundtrip.sh $(DIST)/pin-client_*_$(PKG_ARCH).deb

dist: cross package deb rpm windows ## every release artifact in dist/ (daemon x6, tar.xz, .deb, .rpm, Windows zip) + SHA256SUMS
	rm -f $(DIST)/pin-client-*-windows-amd64.zip
	$(GO) run ./scripts/mkzip -o '$(WIN_ZIP)' -prefix 'PIN Client/' \
		$(WINDIR)/pin-client.exe $(WINDIR)/pin-clientd.exe config.example.json LICENSE
	cd $(DIST) && rm -f SHA256SUMS && sha256sum pin-clientd-* *.tar.xz *.deb *.rpm *.zip > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS
	@cat $(DIST)/SHA256SUMS

screenshots: ## GUI screenshots (scripts/screenshots.sh)
	./scripts/screenshots.sh

e2e: ## real end-to-end: openai SDK -> local gateway -> pin-clientd -> real Ollama
	./e2e/run.sh

keyring-test: ## secret round trip through a real Secret Service (gnome-keyring in dbus)
	./.ci/keyring-test.sh

ci: ## exactly what CI runs (installs apt packages: needs root)
	./.ci/run

clean: ## remove build output
	rm -rf $(BIN) $(DIST) $(WIN_SYSO)

# Chaos soak (issue 11): the real pin-clientd against pintest and fake backends under
# load and a seeded fault schedule; SOAK_ARGS e.g. -seed 7 -duration 10m -transport ws.
SOAK_ARGS ?=
soak: ## chaos soak of the real daemon, both transports, 10 min by default (SOAK_ARGS='-seed 2 -duration 30m')
	$(GO) run ./e2e/soak $(SOAK_ARGS)

soak-quick: ## the 2-minute soak CI runs (both transports, 1 min each)
	$(GO) run ./e2e/soak -duration 2m $(SOAK_ARGS)
