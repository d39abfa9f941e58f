package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/blockdev/looptest"
)

// stateful node probe on real devices: what bootstrap would do, by exit
// code, and nothing written to the device.
func TestNodeProbe(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "node.json")
	cfg := `{"version":1,"cluster":"etcd","node_id":"01","node_ip":"10.0.1.10","region":"us-east-1","asg_name":"etcd-node-01",
"launch_hook":"etcd-node-asg-hook","terminate_hook":"","volume":{"id":"","device_hint":"","mount_path":"/data","file_system":"xfs",
"mount_options":[],"owner":"","group":"","recursive_chown":false},"files":[],"script":{"inline_base64":"Cg==","s3_url":""},
"timeouts":{"command_seconds":60,"volume_seconds":60,"device_seconds":60,"heartbeat_seconds":20},"on_failure":"abandon"}`
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	mine := agent.Stamp{Cluster: "etcd", NodeID: "01"}.Label()
	theirs := agent.Stamp{Cluster: "etcd", NodeID: "02"}.Label()
	mkfs := func(label string) func(t *testing.T, dev string) {
		return func(t *testing.T, dev string) {
			if out, err := exec.Command("mkfs.xfs", "-q", "-L", label, dev).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}
	}
	for name, c := range map[string]struct {
		prepare func(t *testing.T, dev string)
		code    int
		says    string
	}{
		"blank":               {func(*testing.T, string) {}, ExitProbeWouldFormat, "format: blank"},
		"this node's":         {mkfs(mine), ExitOK, "mount: this node's xfs filesystem"},
		"another node's":      {mkfs(theirs), ExitProbeRefuses, "labelled for another node"},
		"foreign (migration)": {mkfs("kafka"), ExitOK, "adopted"},
		"raw data, no signature": {func(t *testing.T, dev string) {
			f, err := os.OpenFile(dev, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(bytes.Repeat([]byte("application bytes "), 1000)); err != nil {
				t.Fatal(err)
			}
		}, ExitProbeRefuses, "does not read back as zeros"},
	} {
		t.Run(name, func(t *testing.T) {
			dev, backing := looptest.Device(t, 300*looptest.MiB)
			c.prepare(t, dev)
			before, _ := os.ReadFile(backing)
			var out, errOut bytes.Buffer
			code := Execute(context.Background(), []string{"node", "probe", dev, "--config", config}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != c.code || !strings.Contains(out.String(), c.says) {
				t.Errorf("exit %d, want %d; output:\n%s%s\nwant it to say %q", code, c.code, out.String(), errOut.String(), c.says)
			}
			if after, _ := os.ReadFile(backing); !bytes.Equal(before, after) {
				t.Error("node probe changed the device")
			}
			out.Reset()
			Execute(context.Background(), []string{"node", "probe", dev, "--config", config, "-o", "json"}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
			var r agent.ProbeReport
			if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Device != dev || r.Why == "" {
				t.Errorf("JSON report %q: %+v, %v", out.String(), r, err)
			}
		})
	}
	t.Run("a device that does not exist", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := Execute(context.Background(), []string{"node", "probe", "/dev/does-not-exist", "--config", config}, IO{Out: &out, Err: &errOut}); code != ExitError {
			t.Errorf("exit %d, want %d: %s", code, ExitError, errOut.String())
		}
	})
}
