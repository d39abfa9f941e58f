package agent

import (
	"strings"
	"testing"
)

const goodConfig = `{"version":1,"cluster":"c","node_id":"00","node_ip":"10.0.0.10","region":"us-east-1","asg_name":"c-00",
"launch_hook":"c-00-launch","terminate_hook":"","volume":{"id":"","device_hint":"","mount_path":"/data","file_system":"xfs",
"mount_options":["noatime"],"owner":"root","group":"root","recursive_chown":false},"files":[{"path":"/etc/x","content_base64":"eA==","mode":"0600"}],
"script":{"inline_base64":"Cg==","s3_url":""},"timeouts":{"command_seconds":0,"volume_seconds":0,"device_seconds":0,"heartbeat_seconds":0},"on_failure":""}`

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(strings.NewReader(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.OnFailure != "abandon" || c.Volume.DeviceHint != "/dev/sdf" || c.Timeouts.Command != 1800 || c.Files[0].FileMode() != 0o600 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	bad := [][2]string{
		{`"version":1`, `"version":2`},
		{`"node_id":"00"`, `"node_id":"a b"`},
		{`"mount_path":"/data"`, `"mount_path":"data"`},
		{`"file_system":"xfs"`, `"file_system":"btrfs"`},
		{`"mount_options":["noatime"]`, `"mount_options":["a,b"]`},
		{`"path":"/etc/x"`, `"path":"/etc/../x"`},
		{`"mode":"0600"`, `"mode":"rw"`},
		{`"content_base64":"eA=="`, `"content_base64":"!!"`},
		{`"on_failure":""`, `"on_failure":"retry"`},
		{`"inline_base64":"Cg=="`, `"inline_base64":""`},
		{`"s3_url":""`, `"s3_url":"https://x"`},
		{`"command_seconds":0`, `"command_seconds":-1`},
		{`"region":"us-east-1"`, `"region":"us-east-1","surprise":true`},
		{`"owner":"root"`, `"owner":"Root Person"`},
		{`"mount_path":"/data"`, `"mount_path":"/data\n/dev/sdz /etc xfs defaults 0 0"`},
		{`"mount_path":"/data"`, `"mount_path":"/my data"`},
		{`"mount_path":"/data"`, `"mount_path":"/data/../etc"`},
		{`"s3_url":""`, `"s3_url":"s3://b/k"`},
		{`"s3_url":""`, `"s3_url":"s3://b/k","s3_sha256":"` + "ab" + `","s3_expected_bucket_owner":"111122223333"`},
		{`"mode":"0600"`, `"mode":"0600","owner":"root;id"`},
		{`"content_base64":"eA=="`, `"content_base64":"eA==","ssm_parameter":"/kafka/tls.key"`},
		{`"content_base64":"eA=="`, `"content_base64":"","ssm_parameter":"/kafka/*"`},
	}
	for _, c := range bad {
		to := c[1]
		_, err := ParseConfig(strings.NewReader(strings.Replace(goodConfig, c[0], to, 1)))
		if err == nil {
			t.Errorf("%s accepted", to)
			continue
		}
		if strings.Count(err.Error(), "\n") > 0 || !strings.HasPrefix(err.Error(), "node config") {
			t.Errorf("%s: error is not one sentence naming the config: %v", to, err)
		}
	}
	if _, err := ParseConfig(strings.NewReader("{not json")); err == nil {
		t.Error("malformed JSON accepted")
	}
}

func TestStampLabelFitsXFS(t *testing.T) {
	t.Parallel()
	a, b := Stamp{Cluster: "kafka", NodeID: "00"}.Label(), Stamp{Cluster: "kafka", NodeID: "01"}.Label()
	if len(a) > 12 || a == b || !strings.HasPrefix(a, "st-") {
		t.Fatalf("labels %q %q", a, b)
	}
}
