package tfmodule

import (
	"testing"

	"github.com/stateful-aws/stateful/internal/release"
)

// The module downloads releases from the URL the Go side documents and the
// lab's renderer uses.
func TestReleaseBaseURLAgrees(t *testing.T) {
	t.Parallel()
	if got := literal(t, local(t, "agent.tf", "release_default_base_url")); got != release.DefaultBaseURL {
		t.Errorf("agent.tf's release_default_base_url is %q, internal/release.DefaultBaseURL %q", got, release.DefaultBaseURL)
	}
}
