package userdata

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/release"
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
	pin, err := release.ReadPin(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cfg agent.Config
		a   Agent
	}{
		"etcd-url.sh": {exampleConfig(), Agent{URL: "https://releases.example.com/stateful/v1.0.0/stateful-linux-{arch}",
			SHA256AMD64: strings.Repeat("ab", 32), SHA256ARM64: strings.Repeat("ab", 32), Version: "1.0.0"}},
		"etcd-path.sh": {exampleConfig(), Agent{Path: "/usr/local/bin/stateful"}},
		"etcd-s3.sh":   {exampleConfig(), Agent{S3URI: "s3://artifacts-bucket/stateful/v1.0.0/stateful"}},
		// The module's default: the pinned release (make release rewrites
		// this golden file with the new checksums).
		"complete-release.sh": {completeConfig(), ReleaseAgent(pin, release.DefaultBaseURL)},
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

// fakeAWS is IMDS, a download server and the Auto Scaling endpoint for
// the user data's own steps: it serves the agent, answers IMDSv2 (with role
// credentials), and records the CompleteLifecycleAction calls after
// checking their SigV4 signature with the AWS SDK's signer.
type fakeAWS struct {
	srv       *httptest.Server
	agent     []byte // served at /bin/stateful-linux-amd64 (nil: 404)
	mu        sync.Mutex
	completes []url.Values
	problems  []string
}

const fakeAK, fakeSK, fakeToken = "ASIAEXAMPLE", "secret/key+with=chars", "role-session-token"

func newFakeAWS(t *testing.T, agentBytes []byte) *fakeAWS {
	f := &fakeAWS{agent: agentBytes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
		fmt.Fprint(w, "imds-token")
	case r.URL.Path == "/latest/meta-data/instance-id":
		fmt.Fprint(w, "i-0123456789abcdef0")
	case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
		fmt.Fprint(w, "node-role")
	case r.URL.Path == "/latest/meta-data/iam/security-credentials/node-role":
		fmt.Fprintf(w, "{\n  \"Code\" : \"Success\",\n  \"AccessKeyId\" : %q,\n  \"SecretAccessKey\" : %q,\n  \"Token\" : %q\n}\n", fakeAK, fakeSK, fakeToken)
	case r.URL.Path == "/bin/stateful-linux-amd64" && f.agent != nil:
		_, _ = w.Write(f.agent)
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if p := checkSigV4(r, body, "autoscaling"); p != "" {
			f.problems = append(f.problems, p)
			http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
			return
		}
		form, _ := url.ParseQuery(string(body))
		f.completes = append(f.completes, form)
		fmt.Fprint(w, "<CompleteLifecycleActionResponse/>")
	default:
		http.NotFound(w, r)
	}
}

// checkSigV4 re-signs the request's signed headers with the fake
// credentials and says what differs, or "".
func checkSigV4(r *http.Request, body []byte, service string) string {
	auth := r.Header.Get("Authorization")
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return "no SigV4 Authorization header: " + auth
	}
	signed, _, _ = strings.Cut(signed, ",")
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "bad X-Amz-Date"
	}
	check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.Path, nil)
	for _, h := range strings.Split(signed, ";") {
		if h != "host" {
			check.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: fakeAK, SecretAccessKey: fakeSK, SessionToken: fakeToken},
		check, hex.EncodeToString(sum[:]), service, "eu-west-1", at)
	if err != nil || check.Header.Get("Authorization") != auth {
		return fmt.Sprintf("signature mismatch:\n got  %s\n want %s", auth, check.Header.Get("Authorization"))
	}
	return ""
}

// getAgent runs the rendered user data's agent steps (everything between
// the config and the exec of the agent) with the agent installed into a
// temporary file, and returns its output and exit code.
func getAgent(t *testing.T, f *fakeAWS, script string, env ...string) (string, int, string) {
	t.Helper()
	start := strings.Index(script, "# Until the agent runs")
	end := strings.Index(script, `exec "$agent" node bootstrap`)
	if start < 0 || end < start {
		t.Fatal("the rendered user data has no agent steps before the exec of the agent")
	}
	installed := filepath.Join(t.TempDir(), "stateful")
	cmd := exec.Command("bash", "-c", "set -euo pipefail\nagent="+installed+"\n"+script[start:end]+"echo \"agent ready: $agent\"\n")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "STATEFUL_IMDS_ENDPOINT=" + f.srv.URL, "AWS_ENDPOINT_URL=" + f.srv.URL}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code, installed
}

// TestUserDataRefusesAnAgentItCannotTrust runs the user data's own steps
// against a fake download server, IMDS and Auto Scaling: the pinned agent
// is installed; a tampered or missing one is refused with a summary that
// names the file, the URL and both sums, and the launch hook is abandoned
// at once by a request the SDK's signer agrees with (or held, as
// configured).
func TestUserDataRefusesAnAgentItCannotTrust(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs curl)", tool)
		}
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the fake release serves amd64 only; this machine is " + runtime.GOARCH)
	}
	good := []byte("the real agent binary")
	goodSum := sha256.Sum256(good)
	pinned := hex.EncodeToString(goodSum[:])
	tampered := []byte("a tampered agent binary")
	tamperedSum := sha256.Sum256(tampered)
	envCreds := []string{"AWS_ACCESS_KEY_ID=" + fakeAK, "AWS_SECRET_ACCESS_KEY=" + fakeSK, "AWS_SESSION_TOKEN=" + fakeToken}
	cases := []struct {
		name      string
		served    []byte
		onFailure string
		path      string
		env       []string
		wantCode  int
		wantOut   []string
		abandoned bool
	}{
		{name: "pinned", served: good, wantOut: []string{"agent ready"}},
		{name: "tampered, role credentials from IMDS", served: tampered, wantCode: 1, abandoned: true, wantOut: []string{
			"FAILED for node 00 at step get-agent", "/bin/stateful-linux-amd64 has sha256 " + hex.EncodeToString(tamperedSum[:]),
			"not the pinned " + pinned, "downloaded from http://", "completing the launch hook " + exampleConfig().LaunchHook + " with ABANDON"}},
		{name: "tampered, environment credentials", served: tampered, env: envCreds, wantCode: 1, abandoned: true},
		{name: "missing", served: nil, env: envCreds, wantCode: 1, abandoned: true, wantOut: []string{
			"could not download the agent from http://", "/bin/stateful-linux-amd64 (curl exit 22); its pinned sha256 is " + pinned}},
		{name: "tampered, held", served: tampered, onFailure: "hold", wantCode: 1, wantOut: []string{"holding the instance in Pending:Wait"}},
		{name: "path not in the image", path: "/nonexistent/stateful", env: envCreds, wantCode: 1, abandoned: true, wantOut: []string{
			"the agent /nonexistent/stateful is not in this image"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAWS(t, c.served)
			cfg := exampleConfig()
			if c.onFailure != "" {
				cfg.OnFailure = c.onFailure
			}
			a := Agent{URL: f.srv.URL + "/bin/stateful-linux-{arch}", SHA256AMD64: pinned, SHA256ARM64: strings.Repeat("0", 64)}
			if c.path != "" {
				a = Agent{Path: c.path}
			}
			script, err := RenderFile(moduleDir, cfg, a)
			if err != nil {
				t.Fatal(err)
			}
			out, code, installed := getAgent(t, f, script, c.env...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, c.wantCode, out)
			}
			if testing.Verbose() {
				t.Log(out)
			}
			for _, w := range c.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if got, _ := os.ReadFile(installed); (code == 0) != bytes.Equal(got, good) {
				t.Errorf("installed agent %q after exit %d", got, code)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.problems) > 0 {
				t.Fatal(strings.Join(f.problems, "\n"))
			}
			if !c.abandoned {
				if len(f.completes) != 0 {
					t.Fatalf("completed the launch hook %v; want it left alone", f.completes)
				}
				return
			}
			want := url.Values{"Action": {"CompleteLifecycleAction"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {cfg.ASGName},
				"LifecycleHookName": {cfg.LaunchHook}, "InstanceId": {"i-0123456789abcdef0"}, "LifecycleActionResult": {"ABANDON"}}
			if len(f.completes) != 1 || !reflect.DeepEqual(f.completes[0], want) {
				t.Fatalf("CompleteLifecycleAction calls %v, want one: %v", f.completes, want)
			}
		})
	}
}

// After a reboot user data does not run again: the user data enables a
// unit that runs bootstrap at every later boot, on systemd hosts only, with
// the agent and config the user data used.
func TestUserDataEnablesBootstrapAtEveryBoot(t *testing.T) {
	t.Parallel()
	script, err := RenderFile(moduleDir, exampleConfig(), Agent{Path: "/opt/bin/stateful"})
	if err != nil {
		t.Fatal(err)
	}
	guard := strings.Index(script, "if [ -d /run/systemd/system ]; then")
	unit := strings.Index(script, "ExecStart=$agent node bootstrap --config $config")
	enable := strings.Index(script, "systemctl enable stateful-node.service")
	exec := strings.LastIndex(script, `exec "$agent" node bootstrap --config "$config"`)
	if guard < 0 || !(guard < unit && unit < enable && enable < exec) || !strings.Contains(script, "agent='/opt/bin/stateful'") {
		t.Fatalf("the user data does not enable the boot unit before running bootstrap:\n%s", script)
	}
}
