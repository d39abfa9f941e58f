package evict

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCutoff(t *testing.T) {
	launch := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name         string
		launch, gone time.Time
		want         time.Time
	}{
		{"old gone before the launch (the roll)", launch, launch.Add(-time.Minute), launch.Add(-time.Minute)},
		{"old still draining after the launch (recover)", launch, launch.Add(5 * time.Minute), launch},
		{"gone unknown", launch, time.Time{}, launch},
	} {
		if got := Cutoff(c.launch, c.gone); !got.Equal(c.want) {
			t.Errorf("%s: Cutoff = %v, want %v", c.name, got, c.want)
		}
	}
}

// The document is AWS's "revoke older sessions" policy: Deny * on * to
// tokens issued before the cutoff, in whole seconds, never after it.
func TestDocument(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 900_000_000, time.FixedZone("x", 3600))
	var p struct {
		Version   string
		Statement []struct {
			Effect    string
			Action    []string
			Resource  []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(Document(at)), &p); err != nil {
		t.Fatal(err)
	}
	s := p.Statement[0]
	if p.Version != "2012-10-17" || len(p.Statement) != 1 || s.Effect != "Deny" || s.Action[0] != "*" || s.Resource[0] != "*" ||
		s.Condition["DateLessThan"]["aws:TokenIssueTime"] != "2026-01-01T11:00:00Z" {
		t.Fatalf("document: %+v", p)
	}
}
