# kindlab: make run (the server), make test (everything CI checks), make bench.
GO       ?= go
export PATH := /usr/local/go/bin:$(PATH)
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# Where the tests keep go test -json streams and phase times (make test-times reads them).
TIMES    ?= $(CURDIR)/.test-times
STREAM   := bin/testtimes stream
TEMPL    := $(GO) tool templ
E2E_TIMEOUT ?= 80m
# Packages with end-to-end tests (files tagged e2e).
E2E_PKGS = $(shell grep -rl --include='*_test.go' '^//go:build e2e' . | xargs -n1 dirname | sort -u)

.PHONY: all build host docker images run test test-times unit e2e e2e-only e2e-build e2e-packages generate check-generated vet bench capacity clean-clusters platform-image bin/testtimes

all: build

build: generate
	$(GO) build -o bin/kindlab .

## host: every Debian package the tests need, in one apt-get, and the Docker engine.
host:
	bash hack/ensure-host.sh

## docker: make a Docker engine reachable (installs Debian's docker.io when missing).
docker:
	bash hack/ensure-docker.sh

## images: build the node, toolbox and lab app images from source (no-op when current).
images: docker build
	./bin/kindlab images build

## run: the workshop server on http://127.0.0.1:8080.
run: images build
	./bin/kindlab serve

## generate: templ components.
generate:
	$(TEMPL) generate -path web >/dev/null

check-generated: generate
	@git diff --exit-code --stat -- web || { echo "templ output is stale: run make generate and commit"; exit 1; }

# vet with the e2e tag sees every file, as long as no file is built only without it.
vet:
	@! grep -rl --include='*.go' '^//go:build.*!e2e' . || { echo "vet: the files above are left out by -tags e2e: vet them without it too"; exit 1; }
	$(GO) vet -tags e2e ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Packages where goroutines meet (the pool and tunnels, exec streams, watches,
# the clock, the shell-mark tracker, sessions, terminals, the workshop hub, the
# store, the server): their unit tests run with the race detector. The others
# (parsers, renderers, the image builder, the lab apps, the CLI) run without it.
RACE_PKGS = ./cluster/... ./internal/... ./labs/check ./server/...
PLAIN_PKGS = $(filter-out $(addprefix github.com/kindlab/kindlab/,cluster% internal/% labs/check server%),$(shell $(GO) list ./...))

## unit: tests that need no Docker, with the race detector where goroutines
## meet; the load tests (Load200) again without it, since it slows every
## goroutine many times over. The store's tests run on SQLite and on a
## PostgreSQL server of their own.
unit: bin/testtimes
	@mkdir -p $(TIMES)
	export KINDLAB_TEST_POSTGRES=$$(bash hack/ensure-postgres.sh) && $(GO) test -json -race $(RACE_PKGS) | $(STREAM) -o $(TIMES)/unit-race.json
	$(GO) test -json $(PLAIN_PKGS) | $(STREAM) -o $(TIMES)/unit.json
	$(GO) test -json -count=1 -run 'Load200' ./server/... | $(STREAM) -o $(TIMES)/unit-load.json

## e2e: tests on real kind clusters (and a real browser).
# E2E_RUN and E2E_SKIP pick tests (go test -run, -skip); E2E_JSON names the kept stream.
E2E_RUN  ?= E2E
E2E_SKIP ?=
E2E_JSON ?= e2e
e2e: images bin/testtimes
	bash hack/ensure-chromium.sh
	$(MAKE) --no-print-directory e2e-only

## e2e-only: the end-to-end tests alone, the images, Chromium and bin/testtimes
## already there (hack/test.sh runs packages side by side with it).
e2e-only:
	@mkdir -p $(TIMES)
	export KINDLAB_TEST_POSTGRES=$$(bash hack/ensure-postgres.sh) && $(GO) test -json -tags e2e -run '$(E2E_RUN)' $(if $(E2E_SKIP),-skip '$(E2E_SKIP)') -count=1 -p 1 -parallel 2 -timeout $(E2E_TIMEOUT) $(E2E_PKGS) | $(STREAM) -v -o $(TIMES)/$(E2E_JSON).json

## e2e-build: compile the end-to-end test binaries (and run none), so that make
## test links them while the images build.
e2e-build:
	$(GO) test -tags e2e -count=1 -run '^$$' $(E2E_PKGS) >/dev/null

e2e-packages:
	@echo $(E2E_PKGS)

## test: the README's test command: vet, unit tests, then end to end on real
## clusters, as timed phases (hack/test.sh), the images built meanwhile.
test:
	bash hack/test.sh

## test-times: every phase, test and benchmark of the last make test, the slowest first.
test-times:
	$(GO) run ./hack/testtimes report -budgets hack/test-budgets $(TIMES)

bin/testtimes:
	$(GO) build -o bin/testtimes ./hack/testtimes

## bench: benchmarks with their figures (real clusters for the cluster ones).
bench: images
	export KINDLAB_TEST_POSTGRES=$$(bash hack/ensure-postgres.sh) && $(GO) test -run '^$$' -bench . -timeout 10m ./server/terminal ./server/workshop ./server/store ./labs/check ./web
	$(GO) test -tags e2e -run '^$$' -bench . -benchtime 1x -p 1 -timeout 90m $(E2E_PKGS)

## capacity: how many learners at work this host serves (BenchmarkCapacity);
## kindlab doctor and serve's default --pool-max use what it finds.
capacity: images
	$(GO) test -tags e2e -run '^$$' -bench Capacity -benchtime 1x -timeout 60m ./server/

## clean-clusters: delete every kindlab cluster on this host.
clean-clusters:
	$(GO) run . cluster list | xargs -r $(GO) run . cluster delete

## platform-image: kindlab's own image (Dockerfile), on the toolbox image.
## (Its binary is bin/image/kindlab, static; bin/kindlab stays the host's build, so
## neither is linked again for the other.)
platform-image: images
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/image/kindlab .
	cp "$$(command -v docker)" bin/image/docker
	DOCKER_BUILDKIT=0 docker build --network=none --build-arg BASE=kindlab/toolbox:lab -t kindlab/server .
