# Sarissa developer and CI entry points. `make test` is what CI runs (.ci/run).
#
# Tools the tests need are installed on demand: Node packages (stock LanceDB
# for compatibility checks, Azurite as the blob emulator) with `npm ci` from
# package-lock.json, and staticcheck with `go install` into ./bin.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
# Steps share two cores and print in order; never run them side by side.
.NOTPARALLEL:

GO ?= go
NPM ?= npm
BIN := $(CURDIR)/bin
# staticcheck 2026.2.2; the first release line that builds with go1.26.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
FUZZTIME ?= 10s
# The distance kernels have an AVX2/AVX-512 path behind Go 1.26's simd
# experiment; binaries we build and run use it on amd64 (portable elsewhere).
SIMD_ENV := $(if $(filter amd64,$(shell $(GO) env GOARCH)),GOEXPERIMENT=simd,)
# npm ci rewrites node_modules/.package-lock.json; its age tells whether the
# installed packages predate the lock file.
NPM_STAMP := node_modules/.package-lock.json
# Go sources outside vendored or generated-tool trees and testdata.
GO_FILES = $(shell find . -name '*.go' -not -path './node_modules/*' -not -path './bin/*' -not -path './.git/*' -not -path '*/testdata/*')

.PHONY: test build run cluster lint fmt-check vet staticcheck unit fuzz bench test-k8s npm-deps npm-lock tools clean-tools

## test: everything CI checks: formatting, vet, staticcheck, race tests, a short fuzz pass
test: npm-deps lint unit fuzz

## build: compile every package
build:
	$(SIMD_ENV) $(GO) build ./...

## run: start a single-process server
run:
	$(SIMD_ENV) $(GO) run ./cmd/sarissa serve

## cluster: a split cluster on loopback (devkafka, two executors, a query node, an agent)
cluster:
	scripts/cluster.sh

## lint: gofmt check, go vet, staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@bad="$$(gofmt -l $(GO_FILES))"; \
	if [ -n "$$bad" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# internal/vector also has a simd/archsimd build (GOEXPERIMENT=simd, amd64
# only) beside the portable one; unit tests both.
unit: npm-deps
	$(GO) test -race -count=1 ./...
	if [ "$$($(GO) env GOARCH)" = amd64 ]; then GOEXPERIMENT=simd $(GO) test -race -count=1 ./internal/vector/...; fi

## fuzz: run every Go fuzz target for FUZZTIME (default 10s) each
fuzz:
	@failed=0; count=0; \
	for file in $$(grep -l --include='*_test.go' -r '^func Fuzz' . --exclude-dir=node_modules --exclude-dir=.git --exclude-dir=bin | sort); do \
	  dir="$$(dirname "$$file")"; \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
	    count=$$((count + 1)); \
	    if out="$$($(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) "$$dir" 2>&1)"; then \
	      echo "fuzz ok   $$dir $$name"; \
	    else \
	      echo "fuzz FAIL $$dir $$name"; echo "$$out" | tail -n 40; failed=1; \
	    fi; \
	  done; \
	done; \
	echo "fuzz: $$count target(s), $(FUZZTIME) each"; \
	exit $$failed

## test-k8s: the Kubernetes launcher against a real API server (envtest)
# etcd and kube-apiserver are built from Go modules by tools/envtest/build.sh
# (cold: about 1 + 7-10 min on two cores; skipped once built); the version
# is the one the wrapper module pins.
ENVTEST_K8S_VERSION = $(patsubst v%,%,$(shell sed -n 's|^require k8s.io/kubernetes ||p' tools/envtest/kube-apiserver/go.mod))
ENVTEST_ASSETS = $(BIN)/envtest/$(ENVTEST_K8S_VERSION)
test-k8s:
	GO=$(GO) tools/envtest/build.sh $(ENVTEST_ASSETS)
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test -race -count=1 -tags k8s ./internal/jobs/kube/...

## bench: run all benchmarks once
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## npm-deps: install the Node test tools when missing or older than the lock file
npm-deps: $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json .npmrc
	@command -v node >/dev/null || { echo "node is required (Node.js >= 20) for the LanceDB compatibility tests"; exit 1; }
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

## npm-lock: regenerate package-lock.json after editing package.json
# npm >= 11.16 drops placeholder entries for optional platform packages that
# the registry lacks (several @lancedb/lancedb-* 0.39.0 builds) and then
# rejects its own lock in `npm ci` (npm/cli#9083 follow-up regression);
# 11.13.0 still writes them.
npm-lock:
	npx --yes npm@11.13.0 install --package-lock-only --no-audit --no-fund

## tools: install the Go tools used by lint
tools: $(STATICCHECK)

$(STATICCHECK):
	@mkdir -p $(BIN)/.staticcheck
	GOBIN=$(BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv $(BIN)/.staticcheck/staticcheck $@ && rmdir $(BIN)/.staticcheck

clean-tools:
	rm -f $(BIN)/staticcheck-*
