# The two commands a new machine needs: `make demo` and `make test`.
GO       ?= go
BIN      := bin/stateful
SHARED   ?= ../shared
HCL_DIRS := . modules/node examples/complete examples/etcd examples/zookeeper

.PHONY: build demo test test-go test-hcl lint-hcl bench docs generate fmt release

build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/stateful

# The product's main job: the local lab runs examples/etcd's module block
# (three etcd nodes) on simulated AWS, rolls it, heals a node loss, reports
# and tears down. It needs root; etcd comes from Debian. The nodes get
# their agent as a user's do by default: the pinned release (built here
# into dist/ and checked against release.tf), served by the lab. Any other
# configuration: ./bin/stateful lab demo --config DIR (README: the lab).
demo: build
	@if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null || ! command -v nft >/dev/null; then \
	  if [ "$$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client nftables >/dev/null; \
	  else echo "make demo needs etcd-server, etcd-client and nftables: sudo apt-get install -y etcd-server etcd-client nftables (and run make demo with sudo)"; exit 2; fi; \
	fi
	$(GO) run ./internal/release/mkrelease -verify -targets linux-$$($(GO) env GOARCH) -dist dist -module .
	./$(BIN) lab demo --config examples/etcd --release-dir dist

# Every step below prints its time and ends what it left running
# (scripts/step); scripts/test-prepare first installs and builds what the
# tests need (Debian packages, linters, the offline OpenTofu, the test
# binaries), so that no test pays for a toolchain build inside its timeout.
# The tools it puts in bin/tools come first on the PATH.
export PATH := $(CURDIR)/bin/tools:$(PATH):/usr/local/go/bin
STEP := scripts/step
# go test's per-package timeout: the slowest package (internal/cli, with
# the whole-system property test) takes about 4 minutes on this 2-core
# machine; tests that run processes end them a margin before it
# (internal/proctest), naming the step.
GO_TEST_TIMEOUT ?= 20m

test:
	@summary=$(CURDIR)/bin/test-steps.txt; mkdir -p bin; rm -f $$summary; \
	STEP_SUMMARY=$$summary scripts/test-prepare && \
	STEP_SUMMARY=$$summary $(MAKE) --no-print-directory test-go test-hcl lint-hcl; rc=$$?; \
	echo "=== make test: every step"; cat $$summary; exit $$rc

test-go:
	@$(STEP) "go vet" $(GO) vet ./...
	@$(STEP) "go vet (node binary)" $(GO) vet -tags stateful_node ./...
	@$(STEP) "staticcheck" staticcheck ./...
	@$(STEP) "go test" $(GO) test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...

# The HCL checks: they never skip (a missing tool fails, naming it).
test-hcl:
	@if [ ! -x $(SHARED)/tools/tfschema/check ]; then echo "test-hcl: $(SHARED)/tools/tfschema/check not found (../shared beside the repository): the schema check cannot run"; exit 2; fi
	@if ! command -v tofu >/dev/null; then echo "test-hcl: no tofu on the PATH: run scripts/test-prepare (make test does) to put the offline OpenTofu there"; exit 2; fi
	@$(STEP) "tfschema" $(SHARED)/tools/tfschema/check $(HCL_DIRS)
	@for d in $(HCL_DIRS); do \
	  $(STEP) "tofu validate $$d" sh -c "cd $$d && tofu init -backend=false -input=false -no-color >/dev/null && tofu validate -no-color" || exit 1; \
	done
	@$(STEP) "tofu test" tofu test -no-color

# The Terraform linters (scripts/test-prepare installs them).
lint-hcl:
	@for d in $(HCL_DIRS); do \
	  $(STEP) "tflint $$d" tflint --chdir=$$d --config=$(CURDIR)/.tflint.hcl || exit 1; \
	done
	@for d in $(HCL_DIRS); do \
	  $(STEP) "tfsec $$d" tfsec $$d --no-color --minimum-severity MEDIUM --concise-output || exit 1; \
	done

# The figures quoted in the README.
bench: build
	$(GO) test -run '^$$' -bench 'Roll|ReplacementAgainstFloor' -benchtime 1x ./internal/rollout
	$(GO) test -run '^$$' -bench . ./internal/sim
	$(GO) test -run '^$$' -bench Bootstrap -benchtime 5x ./internal/agent
	@echo "binary size: $$(stat -c %s $(BIN)) bytes ($(BIN), stripped)"

# The release the module pins: every target built twice (the second time
# from a copy of the source at another path) and refused unless the two are
# identical; the binaries and SHA256SUMS in dist/v$(VERSION)/ (upload them
# as the release, see README: the release layout); the version and sums in
# release.tf; the golden user data that carries them.
release:
	@if [ -z "$(VERSION)" ]; then echo "make release needs VERSION=MAJOR.MINOR.PATCH (the module pins $$(sed -n 's/^ *version *= *"\(.*\)"/\1/p' release.tf))"; exit 2; fi
	$(GO) run ./internal/release/mkrelease -version "$(VERSION)" -dist dist -module .
	$(GO) test ./internal/userdata -run TestGoldenUserData -update >/dev/null

# Regenerate the inputs/outputs tables of the READMEs.
docs:
	$(GO) test ./internal/tfmodule -run READMEs -update

generate:
	$(GO) generate ./...

fmt:
	gofmt -w cmd internal
	tofu fmt -recursive .
