# The two commands a new machine needs: `make demo` and `make test`.
GO       ?= go
BIN      := bin/stateful
SHARED   ?= ../shared
HCL_DIRS := . modules/node examples/complete examples/etcd

.PHONY: build demo test test-go test-hcl lint-hcl bench docs generate fmt

build:
	$(GO) build -o $(BIN) ./cmd/stateful

# The product's main job on its embedded default: a simulated three-node
# cluster served over the AWS wire protocols until Ctrl-C.
demo: build
	./$(BIN) sim serve --nodes 3

test: test-go test-hcl lint-hcl

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# tofu validate in every module and tofu test, with whatever tofu is on the
# PATH (.ci/run puts the offline one from ../shared/tools there).
test-hcl:
	@if [ -x $(SHARED)/tools/tfschema/check ]; then $(SHARED)/tools/tfschema/check $(HCL_DIRS); \
	else echo "test-hcl: $(SHARED)/tools/tfschema not found: schema check skipped"; fi
	@if command -v tofu >/dev/null; then \
	  for d in $(HCL_DIRS); do \
	    (cd $$d && tofu init -backend=false -input=false -no-color >/dev/null && tofu validate -no-color) || exit 1; \
	  done; \
	  tofu test -no-color; \
	else echo "test-hcl: no tofu on the PATH: tofu validate and tofu test skipped"; fi

# The Terraform linters, when installed (.ci/run installs them).
lint-hcl:
	@if command -v tflint >/dev/null; then \
	  for d in $(HCL_DIRS); do tflint --chdir=$$d --config=$(CURDIR)/.tflint.hcl || exit 1; done; \
	else echo "lint-hcl: tflint not installed: skipped"; fi
	@if command -v tfsec >/dev/null; then \
	  for d in $(HCL_DIRS); do tfsec $$d --no-color --minimum-severity MEDIUM --concise-output || exit 1; done; \
	else echo "lint-hcl: tfsec not installed: skipped"; fi

# The figures quoted in the README.
bench:
	$(GO) test -run '^$$' -bench Roll -benchtime 1x ./internal/rollout
	$(GO) test -run '^$$' -bench . ./internal/sim

# Regenerate the inputs/outputs tables of the READMEs.
docs:
	$(GO) test ./internal/tfmodule -run READMEs -update

generate:
	$(GO) generate ./...

fmt:
	gofmt -w cmd internal
	tofu fmt -recursive .
