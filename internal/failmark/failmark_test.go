package failmark

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestMarks(t *testing.T) {
	for _, c := range []struct {
		kind     string
		replaced int
		want     bool
	}{
		{"verify", 0, true},
		{"abandoned", 0, true},
		{"pre-check", 0, false}, // before any change: about the cluster, not the change
		{"pre-check", 1, true},
		{"timeout", 3, false},
		{"node-lost", 1, false},
		{"refused", 0, false},
		{"wrong-version", 1, false},
	} {
		if got := Marks(c.kind, c.replaced); got != c.want {
			t.Errorf("Marks(%q, %d) = %t, want %t", c.kind, c.replaced, got, c.want)
		}
	}
}

func TestBlocked(t *testing.T) {
	a := Target{Node: "00", Template: "lt-a", Version: 3, Content: "aaaa"}
	b := Target{Node: "01", Template: "lt-b", Version: 3, Content: "bbbb"}
	m := Mark{Failed: a, Changes: []string{a.Fingerprint(), b.Fingerprint()}}
	for name, c := range map[string]struct {
		targets []Target
		want    int
	}{
		"the same change":               {[]Target{a, b}, 1}, // not on 00, where it failed
		"a new version":                 {[]Target{{Node: "01", Template: "lt-b", Version: 4, Content: "bbbb"}}, 0},
		"other contents at that number": {[]Target{{Node: "01", Template: "lt-b", Version: 3, Content: "cccc"}}, 0},
		"another template":              {[]Target{{Node: "01", Template: "lt-c", Version: 3, Content: "bbbb"}}, 0},
		"nothing to roll":               {nil, 0},
	} {
		if got := Blocked(m, c.targets); len(got) != c.want {
			t.Errorf("%s: %d blocked, want %d", name, len(got), c.want)
		}
	}
}

// A mark of a large cluster fits Parameter Store's 4 KB standard value,
// keeping the failed node's change.
func TestEncodeFitsTheStandardTier(t *testing.T) {
	failed := Target{Node: "000", Template: "lt-0123456789abcdef0", Version: 12, Content: "0123456789abcdef"}
	m := Mark{Failed: failed, What: "verify: bash -c ... exited 1", At: "2026-12-06T19:00:00Z", By: "stateful roll by alice@laptop, pid 4242"}
	for k := range 500 {
		m.Changes = append(m.Changes, Target{Node: fmt.Sprint(k), Template: "lt-x", Version: 2, Content: "c"}.Fingerprint())
	}
	m.Changes[0] = failed.Fingerprint()
	s := m.Encode()
	var back Mark
	if len(s) > 4096 || json.Unmarshal([]byte(s), &back) != nil || back.Changes[0] != failed.Fingerprint() || len(back.Changes) < 150 {
		t.Fatalf("%d characters, %d changes kept", len(s), len(back.Changes))
	}
}
