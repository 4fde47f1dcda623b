# Build, test and lint Vargate. `make test` is the whole suite, as CI runs it.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/vargate/vargate.Version=$(VERSION)

.PHONY: build run test lint bench

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/vargate ./cmd/vargate

run: build
	./bin/vargate serve

test:
	$(GO) test -race -count=1 -timeout 25m ./...

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...
