package plancheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFixtures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file  string
		allow Allow
		rules string // refused rules, space-separated
		addrs int
	}{
		{"pass-new-version.json", Allow{}, "", 0},
		{"pass-one-group-replaced.json", Allow{}, "", 0},
		{"refuse-volume-replaced.json", Allow{}, "data-volume", 1},
		{"refuse-volume-replaced.json", Allow{VolumeLoss: true}, "", 0},
		{"refuse-volume-deleted.json", Allow{}, "data-volume", 1},
		{"refuse-eni-replaced.json", Allow{}, "node-eni", 1},
		{"refuse-eni-replaced.json", Allow{ENIReplacement: true}, "", 0},
		{"refuse-groups-replaced.json", Allow{}, "multi-node-replacement", 2},
		{"refuse-groups-replaced.json", Allow{MultiNodeReplaces: true}, "", 0},
	}
	for _, c := range cases {
		f, err := os.Open(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		var rules []string
		addrs := 0
		for _, fd := range Check(p, c.allow) {
			rules = append(rules, string(fd.Rule))
			addrs += len(fd.Addresses)
			for _, a := range fd.Addresses {
				if !strings.Contains(a, "cluster_nodes[") {
					t.Errorf("%s: finding names %s, outside the module's nodes", c.file, a)
				}
			}
		}
		if got := strings.Join(rules, " "); got != c.rules || addrs != c.addrs {
			t.Errorf("%s with %+v: refused %q (%d addresses), want %q (%d)", c.file, c.allow, got, addrs, c.rules, c.addrs)
		}
	}
}

func TestParseRejectsWhatIsNotAPlan(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "not json", `{"resource_changes": []}`, `{"format_version": "2.0"}`} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) accepted it", in)
		}
	}
}
