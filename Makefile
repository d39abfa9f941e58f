# The two commands a new machine needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin/stateful
SHARED  ?= ../shared

.PHONY: build demo test test-go bench generate fmt

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

# The figures quoted in the README.
bench:
	$(GO) test -run '^$$' -bench Roll -benchtime 1x ./internal/rollout
	$(GO) test -run '^$$' -bench . ./internal/sim

generate:
	$(GO) generate ./...

fmt:
	gofmt -w cmd internal
