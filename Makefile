# The two commands a new machine needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin/stateful
SHARED  ?= ../shared

.PHONY: build demo test test-go generate fmt

build:
	$(GO) build -o $(BIN) ./cmd/stateful

# The product's main job on its embedded default: a simulated three-node
# cluster served over the AWS wire protocols until Ctrl-C.
demo: build
	./$(BIN) sim serve --nodes 3

test: test-go

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

generate:
	$(GO) generate ./...

fmt:
	gofmt -w cmd internal
