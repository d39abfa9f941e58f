package cli

import (
	"testing"

	"github.com/stateful-aws/stateful/internal/diagnosis"
)

// Issue 25 item 5: first boots are forming, not a lost quorum.
func TestQuorumVerdictSaysFormingOnFirstBoots(t *testing.T) {
	t.Parallel()
	row := func(in bool, c diagnosis.Cause) nodeStatus {
		return nodeStatus{InService: in, Diagnosis: diagnosis.Diagnosis{Cause: c}}
	}
	ok := row(true, diagnosis.Serving)
	for _, c := range []struct {
		name string
		rows []nodeStatus
		want string
	}{
		{"a majority serves", []nodeStatus{ok, ok, row(false, diagnosis.NodeFailed)}, "quorum holds"},
		{"every node on its first boot", []nodeStatus{row(false, diagnosis.Forming), row(false, diagnosis.Forming), row(false, diagnosis.LaunchHook)}, "forming: first boots under way"},
		{"one serves, two forming", []nodeStatus{ok, row(false, diagnosis.Forming), row(false, diagnosis.Forming)}, "forming: first boots under way"},
		{"a failure among the first boots", []nodeStatus{row(false, diagnosis.Forming), row(false, diagnosis.NodeFailed), row(false, diagnosis.Forming)}, "QUORUM LOST"},
		{"replacements only, no first boot", []nodeStatus{ok, row(false, diagnosis.LaunchHook), row(false, diagnosis.LaunchHook)}, "QUORUM LOST"},
	} {
		if got := quorumVerdict(c.rows, 2); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
