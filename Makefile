# kindlab: make run (the server), make test (everything CI checks), make bench.
GO       ?= go
export PATH := /usr/local/go/bin:$(PATH)
TEMPL    := $(GO) tool templ
E2E_TIMEOUT ?= 80m
# Packages with end-to-end tests (files tagged e2e).
E2E_PKGS = $(shell grep -rl --include='*_test.go' '^//go:build e2e' . | xargs -n1 dirname | sort -u)

.PHONY: all build docker images run test unit e2e generate check-generated vet bench capacity clean-clusters platform-image

all: build

build: generate
	$(GO) build -o bin/kindlab .

## docker: make a Docker engine reachable (installs Debian's docker.io when missing).
docker:
	bash hack/ensure-docker.sh

## images: build the node, toolbox and lab app images from source (no-op when current).
images: docker
	$(GO) run . images build

## run: the workshop server on http://127.0.0.1:8080.
run: images build
	./bin/kindlab serve

## generate: templ components.
generate:
	$(TEMPL) generate -path web >/dev/null

check-generated: generate
	@git diff --exit-code --stat -- web || { echo "templ output is stale: run make generate and commit"; exit 1; }

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

## unit: tests that need no Docker, with the race detector; the load tests
## (Load200) again without it, since it slows every goroutine many times over.
## The store's tests run on SQLite and on a PostgreSQL server of their own.
unit:
	export KINDLAB_TEST_POSTGRES=$$(bash hack/ensure-postgres.sh) && $(GO) test -race ./...
	$(GO) test -count=1 -run 'Load200' ./server/...

## e2e: tests on real kind clusters (and a real browser).
e2e: images
	bash hack/ensure-chromium.sh
	export KINDLAB_TEST_POSTGRES=$$(bash hack/ensure-postgres.sh) && $(GO) test -tags e2e -run 'E2E' -count=1 -p 1 -timeout $(E2E_TIMEOUT) -v $(E2E_PKGS)

## test: the README's test command: vet, unit tests, then end to end on real clusters.
test: check-generated vet unit e2e

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
platform-image: images
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/kindlab .
	cp "$$(command -v docker)" bin/docker
	DOCKER_BUILDKIT=0 docker build --network=none --build-arg BASE=kindlab/toolbox:lab -t kindlab/server .
