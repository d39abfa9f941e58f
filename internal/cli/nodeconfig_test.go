package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mount path that would add an fstab line (a newline) or shift its fields
// (a space) is refused by the config's validation, with one sentence and
// exit 2, before bootstrap writes anything: fstab and the agent's state
// directory are as they were.
func TestBootstrapRefusesAnUnsafeMountPathBeforeWritingAnything(t *testing.T) {
	watched := []string{"/etc/fstab", "/var/lib/stateful"}
	before := map[string]string{}
	for _, p := range watched {
		before[p] = snapshot(p)
	}
	for name, mountPath := range map[string]string{
		"newline": `/data\n/dev/sdz /etc xfs defaults 0 0`,
		"space":   "/my data",
	} {
		t.Run(name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "node.json")
			cfg := `{"version":1,"cluster":"etcd","node_id":"01","node_ip":"10.0.1.10","region":"us-east-1","asg_name":"etcd-node-01",
"launch_hook":"etcd-node-asg-hook","terminate_hook":"","volume":{"id":"","device_hint":"","mount_path":"` + mountPath + `","file_system":"xfs",
"mount_options":[],"owner":"","group":"","recursive_chown":false},"files":[],"script":{"inline_base64":"Cg==","s3_url":""},
"timeouts":{"command_seconds":60,"volume_seconds":60,"device_seconds":60,"heartbeat_seconds":20},"on_failure":"abandon"}`
			if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			// An unreachable endpoint: were validation to pass, nothing
			// could reach AWS either.
			t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
			code := Execute(context.Background(), []string{"node", "bootstrap", "--config", config}, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
			msg := strings.TrimSpace(errb.String())
			if code != ExitUsage || !strings.Contains(msg, "volume.mount_path") || strings.Count(msg, "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want exit %d and one sentence naming volume.mount_path", code, msg, ExitUsage)
			}
			for _, p := range watched {
				if got := snapshot(p); got != before[p] {
					t.Fatalf("%s changed", p)
				}
			}
		})
	}
}

// snapshot is a file's bytes, or a directory's listing, or "absent".
func snapshot(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "absent"
	}
	if !st.IsDir() {
		b, _ := os.ReadFile(p)
		return string(b)
	}
	var names []string
	_ = filepath.WalkDir(p, func(path string, d os.DirEntry, _ error) error {
		names = append(names, path)
		return nil
	})
	return strings.Join(names, "\n")
}
