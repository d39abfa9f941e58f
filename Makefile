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
	@if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then \
	  if [ "$$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null; \
	  else echo "make demo needs etcd-server and etcd-client: sudo apt-get install -y etcd-server etcd-client (and run make demo with sudo)"; exit 2; fi; \
	fi
	$(GO) run ./internal/release/mkrelease -verify -targets linux-$$($(GO) env GOARCH) -dist dist -module .
	./$(BIN) lab demo --config examples/etcd --release-dir dist

test: test-go test-hcl lint-hcl

test-go:
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "test-go: staticcheck not installed: skipped"; fi
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
