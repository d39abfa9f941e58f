package plancheck

import (
	"fmt"
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
		{"pass-add-node-grow-volume.json", Allow{}, "", 0},
		{"pass-two-clusters-one-node-each.json", Allow{}, "", 0},
		{"refuse-volume-replaced.json", Allow{}, "data-volume", 1},
		{"refuse-volume-replaced.json", Allow{VolumeLoss: true}, "", 0},
		{"refuse-volume-deleted.json", Allow{}, "data-volume", 1},
		{"refuse-volume-delete-create.json", Allow{}, "data-volume", 1},
		{"refuse-volume-other-az.json", Allow{}, "data-volume", 1},
		{"refuse-volume-other-key.json", Allow{}, "data-volume", 1},
		{"refuse-volume-shrunk.json", Allow{}, "data-volume-shrink", 1},
		{"refuse-volume-shrunk.json", Allow{VolumeShrink: true}, "", 0},
		{"refuse-eni-replaced.json", Allow{}, "node-eni", 1},
		{"refuse-eni-replaced.json", Allow{ENIReplacement: true}, "", 0},
		{"refuse-eni-deleted.json", Allow{}, "node-eni", 1},
		{"refuse-eni-ip-changed.json", Allow{}, "node-eni", 1},
		{"refuse-groups-replaced.json", Allow{}, "multi-node-replacement", 2},
		{"refuse-groups-replaced.json", Allow{MultiNodeReplaces: true}, "", 0},
		{"refuse-groups-deleted.json", Allow{}, "multi-node-replacement", 2},
		// The upgrade from the original module without moved blocks or
		// its names: three groups deleted (and created elsewhere), node
		// 01's 100 GiB volume shrunk to 16.
		{"refuse-upgrade-delete-create.json", Allow{}, "data-volume-shrink multi-node-replacement", 4},
		{"refuse-upgrade-delete-create.json", Allow{VolumeShrink: true, MultiNodeReplaces: true}, "", 0},
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

func TestMessagesNameNodesAndCauses(t *testing.T) {
	t.Parallel()
	for file, want := range map[string][]string{
		"refuse-upgrade-delete-create.json": {"node 01 from 100 to 16 GiB", "3 nodes of one cluster at once (00, 01, 02)", "--allow-multi-node-replacement", "--allow-volume-shrink"},
		"refuse-volume-other-az.json":       {"node 02's volume replaced: availability_zone changes", "--allow-volume-loss"},
		"refuse-volume-other-key.json":      {"node 00's volume replaced: kms_key_id changes"},
		"refuse-eni-ip-changed.json":        {"node 02's IP changes from 10.0.2.10 to 10.0.2.11", "--allow-eni-replacement"},
	} {
		f, err := os.Open(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var all string
		for _, fd := range Check(p, Allow{}) {
			all += fd.Message + " " + fd.Flag + "\n"
		}
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: findings do not say %q:\n%s", file, w, all)
			}
		}
	}
}

func TestParseRejectsWhatIsNotAPlan(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                         "not plan JSON",
		"not json":                 "not plan JSON",
		`{"resource_changes": []}`: "no format_version",
		`{"format_version": "2.0", "planned_values": {}}`:                                        "not supported",
		`{"format_version": "1.2"}`:                                                              "no planned_values",
		`{"format_version": "1.0", "terraform_version": "1.9.8", "values": {"root_module": {}}}`: "this is Terraform state",
		"PK\x03\x04\x14\x00binary":                                                               "binary plan file",
		`{"format_version": "1.2", "planned_values": {}, "resource_changes": [{"address": "x"`:   "ends early",
	} {
		_, err := Parse(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

// A plan whose prior state and configuration are huge is read in bounded
// memory: only the resource changes are kept.
func BenchmarkParseLargePlan(b *testing.B) {
	var big strings.Builder
	big.WriteString(`{"format_version":"1.2","planned_values":{},"prior_state":{"values":{"root_module":{"resources":[`)
	for i := range 200000 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"address":"aws_s3_object.o%d","values":{"content":"%s"}}`, i, strings.Repeat("x", 1000))
	}
	big.WriteString(`]}}},"resource_changes":[]}`)
	in := big.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(strings.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
