package userdata

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stateful-aws/stateful/internal/agent"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const moduleDir = "../.."

// exampleConfig is node 00 of examples/etcd as the module builds it;
// tests/userdata_golden.tftest.hcl checks that Terraform renders the same
// golden files from the same inputs.
func exampleConfig() agent.Config {
	script, err := os.ReadFile(filepath.Join(moduleDir, "examples/etcd/node.sh"))
	if err != nil {
		panic(err)
	}
	return agent.Config{
		Version: 1, Cluster: "etcd", NodeID: "00", NodeIP: "10.0.0.10", Region: "eu-west-1",
		ASGName: "etcd-node-00", LaunchHook: "etcd-node-asg-hook", TerminateHook: "etcd-node-drain-hook",
		Volume: agent.Volume{DeviceHint: "/dev/sdf", MountPath: "/data", FileSystem: "ext4", MountOptions: []string{"noatime"}, Owner: "root", Group: "root"},
		Files: []agent.File{{Path: "/etc/stateful/etcd-cluster.env", Mode: "0644",
			ContentBase64: "RVRDRF9JTklUSUFMX0NMVVNURVI9bjAwPWh0dHA6Ly8xMC4wLjAuMTA6MjM4MCxuMDE9aHR0cDovLzEwLjAuMS4xMDoyMzgwLG4wMj1odHRwOi8vMTAuMC4yLjEwOjIzODAKRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU49ZXRjZApFVENEX0RBVEFfUk9PVD0vZGF0YQo="}},
		Script:    agent.Script{InlineBase64: base64.StdEncoding.EncodeToString(script)},
		Timeouts:  agent.Timeouts{Command: 1800, Volume: 900, Device: 300, Heartbeat: 1200, DrainHeartbeat: 200},
		OnFailure: "abandon",
	}
}

// completeConfig is node 00 of examples/complete as the module builds it.
func completeConfig() agent.Config {
	script, err := os.ReadFile(filepath.Join(moduleDir, "examples/complete/node_config_script.sh"))
	if err != nil {
		panic(err)
	}
	return agent.Config{
		Version: 1, Cluster: "stateful-complete", NodeID: "00", NodeIP: "10.42.0.10", Region: "eu-west-1",
		ASGName: "stateful-complete-node-00", LaunchHook: "stateful-complete-node-asg-hook",
		Volume:    agent.Volume{DeviceHint: "/dev/sdf", MountPath: "/mydata", FileSystem: "xfs", MountOptions: []string{"noatime"}, Owner: "ec2-user", Group: "ec2-user"},
		Files:     []agent.File{{Path: "/etc/app/node.conf", Mode: "0644", ContentBase64: base64.StdEncoding.EncodeToString([]byte("node=00\n"))}},
		Script:    agent.Script{InlineBase64: base64.StdEncoding.EncodeToString(script)},
		Timeouts:  agent.Timeouts{Command: 1800, Volume: 900, Device: 300, Heartbeat: 1200, DrainHeartbeat: 200},
		OnFailure: "abandon",
	}
}

func TestGoldenUserData(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		cfg agent.Config
		a   Agent
	}{
		"etcd-url.sh":      {exampleConfig(), Agent{URL: "https://releases.example.com/stateful/v1.0.0/stateful-linux-{arch}", SHA256: strings.Repeat("ab", 32)}},
		"etcd-path.sh":     {exampleConfig(), Agent{Path: "/usr/local/bin/stateful"}},
		"etcd-s3.sh":       {exampleConfig(), Agent{S3URI: "s3://artifacts-bucket/stateful/v1.0.0/stateful"}},
		"complete-path.sh": {completeConfig(), Agent{Path: "/usr/local/bin/stateful"}},
	}
	for name, c := range cases {
		got, err := RenderFile(moduleDir, c.cfg, c.a)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > MaxSize {
			t.Errorf("%s: %d bytes of user data, over EC2's %d", name, len(got), MaxSize)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/userdata -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the golden file; if the change is intended run go test ./internal/userdata -update", name)
		}
		if !strings.HasPrefix(got, "#!/bin/bash\n") || !strings.Contains(got, `exec "$agent" node bootstrap --config "$config"`) {
			t.Errorf("%s does not run the agent", name)
		}
		if sc, err := exec.LookPath("shellcheck"); err == nil {
			cmd := exec.Command(sc, "-s", "bash", "-")
			cmd.Stdin = strings.NewReader(got)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", name, err, out)
			}
		}
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck is not installed (apt-get install shellcheck; .ci/run does): rendered scripts not linted")
	}
}

func TestConfigJSONIsTerraformsJSONEncode(t *testing.T) {
	t.Parallel()
	j, err := ConfigJSON(agent.Config{Cluster: "a<b>&c", Files: []agent.File{}})
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted, HTML characters escaped, one line: jsonencode's output.
	if !strings.HasPrefix(j, `{"asg_name":"","cluster":"a\u003cb\u003e\u0026c","files":[],`) || strings.Contains(j, "\n") {
		t.Fatalf("ConfigJSON = %s", j)
	}
}

// TestS3GetSignsLikeTheSDK runs the template's s3_get against a fake IMDS
// and a fake S3 that checks the request's SigV4 signature with the AWS
// SDK's own signer.
func TestS3GetSignsLikeTheSDK(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "openssl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs curl and openssl)", tool)
		}
	}
	const ak, sk, token = "ASIAEXAMPLEKEY", "secret/key+with=chars", "session-token-value"
	payload := []byte("agent binary")
	var problems []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
			fmt.Fprint(w, "imds-token")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			fmt.Fprint(w, "node-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/node-role":
			fmt.Fprintf(w, "{\n  \"Code\" : \"Success\",\n  \"AccessKeyId\" : %q,\n  \"SecretAccessKey\" : %q,\n  \"Token\" : %q,\n  \"Expiration\" : \"2030-01-01T00:00:00Z\"\n}\n", ak, sk, token)
		default:
			at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
			if err != nil {
				problems = append(problems, "bad X-Amz-Date")
			}
			check, _ := http.NewRequest(http.MethodGet, "https://"+r.Host+r.URL.Path, nil)
			check.Header.Set("X-Amz-Content-Sha256", r.Header.Get("X-Amz-Content-Sha256"))
			err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk, SessionToken: token}, check,
				r.Header.Get("X-Amz-Content-Sha256"), "s3", "eu-west-1", at)
			if err != nil || check.Header.Get("Authorization") != r.Header.Get("Authorization") {
				problems = append(problems, fmt.Sprintf("signature mismatch:\n got  %s\n want %s", r.Header.Get("Authorization"), check.Header.Get("Authorization")))
				http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
				return
			}
			if r.Host != "artifacts-bucket.s3.eu-west-1.amazonaws.com" || r.URL.Path != "/stateful/v1.0.0/stateful" {
				problems = append(problems, "wrong object "+r.Host+r.URL.Path)
			}
			_, _ = w.Write(payload)
		}
	}))
	defer srv.Close()
	script, err := RenderFile(moduleDir, exampleConfig(), Agent{S3URI: "s3://artifacts-bucket/stateful/v1.0.0/stateful"})
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?s)s3_get\(\) \{.*?\n\}\n`).FindString(script)
	if fn == "" {
		t.Fatal("no s3_get in the rendered script")
	}
	out := filepath.Join(t.TempDir(), "agent")
	cmd := exec.Command("bash", "-c", "set -euo pipefail\nregion=eu-west-1\nimds=\"$STATEFUL_IMDS_ENDPOINT/latest\"\n"+fn+"s3_get s3://artifacts-bucket/stateful/v1.0.0/stateful "+out)
	cmd.Env = append(os.Environ(), "STATEFUL_IMDS_ENDPOINT="+srv.URL, "STATEFUL_S3_ENDPOINT="+srv.URL)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s3_get: %v\n%s\n%v", err, b, problems)
	}
	if len(problems) > 0 {
		t.Fatal(strings.Join(problems, "\n"))
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, payload) {
		t.Fatalf("downloaded %q", got)
	}
}
