# The two commands: `make run` starts the whole stack on loopback, `make test`
# proves it. Both install what they need when it is missing (Debian).
SHELL := /bin/bash
GO    ?= go
BIN   := bin
APT_PACKAGES := sox libsox-fmt-all espeak-ng sip-tester libopus-dev libopusfile-dev pkg-config chromium
FUZZTIME ?= 5s

# Only regenerating the corpus needs these (the tests read the committed audio).
FIXTURE_PACKAGES := espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts

.PHONY: all build deps test vet unit libopus fuzz run bench fixtures clean

all: build

# deps installs the Debian packages the suite talks to (SIPp, Chromium, sox,
# libopus for the cgo twin) when one of them is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

unit:
	$(GO) test -race -timeout 20m ./...

# libopus runs the differential tests against the cgo libopus twin, linked
# against libopus 1.6.1 (the release gopus ports) built once into .cache/;
# offline it falls back, loudly, to the system libopus (scripts/libopus.sh).
libopus:
	GO="$(GO)" ./scripts/libopus.sh

# fuzz gives every fuzz target (every parser we own has one) a short budget.
# Targets are found by name, so no test binary is built just to list them.
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# as the -fuzztime window closes on a loaded machine (golang/go#75804, fixed
# in 1.27): such a run wrote no failing input and is retried once; any run
# that found something (a "Failing input written" line) fails at once.
fuzz:
	@set -e; for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go') | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz ./$$dir $$f ($(FUZZTIME))"; \
			for try in 1 2; do \
				if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$dir >/tmp/amd-fuzz.log 2>&1; then break; fi; \
				if [ $$try = 1 ] && grep -q 'context deadline exceeded' /tmp/amd-fuzz.log && ! grep -q 'Failing input written' /tmp/amd-fuzz.log; then \
					echo "fuzz ./$$dir $$f: the coordinator's deadline race (golang/go#75804), no input found; again"; continue; \
				fi; \
				cat /tmp/amd-fuzz.log; exit 1; \
			done; \
		done; \
	done

test: deps vet unit libopus fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./bench/ | tee bench/latest.txt

run: deps build
	./scripts/run-stack.sh

# fixtures regenerates the labelled corpus deterministically (fixed seed).
fixtures:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(FIXTURE_PACKAGES)"
	$(GO) run ./fixtures/gen -out fixtures/corpus

clean:
	rm -rf $(BIN)
