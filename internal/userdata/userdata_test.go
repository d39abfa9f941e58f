package userdata

import (
	"bytes"
	"cmp"
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
		Files: []agent.File{{Path: "/etc/stateful/etcd-cluster.env", Mode: "0600", Owner: "root", Group: "root",
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
		Files:     []agent.File{{Path: "/etc/app/node.conf", Mode: "0600", Owner: "root", Group: "root", ContentBase64: base64.StdEncoding.EncodeToString([]byte("node=00\n"))}},
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
		"etcd-s3.sh":   {exampleConfig(), Agent{S3URI: "s3://artifacts-bucket/stateful/v1.0.0/stateful", S3SHA256: strings.Repeat("ab", 32), S3Owner: "111122223333"}},
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

// fakeAWS is IMDS, a download server and the Auto Scaling endpoint for
// the user data's own steps: it serves the agent, answers IMDSv2 (with role
// credentials), and records the CompleteLifecycleAction calls after
// checking their SigV4 signature with the AWS SDK's signer.
type fakeAWS struct {
	srv     *httptest.Server
	agent   []byte // served at /bin/stateful-linux-amd64 and as S3 object s3://artifacts-bucket/stateful (nil: 404)
	s3Owner string // the account owning the S3 bucket
	// s3Object is the S3 URI the agent is served as (default
	// s3://artifacts-bucket/stateful), in s3Region (default eu-west-1):
	// asked in another region, S3 answers 301 naming its own.
	s3Object, s3Region string
	mu                 sync.Mutex
	completes          []url.Values
	problems           []string
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
	case r.Method == http.MethodGet && strings.Contains(r.Host, ".amazonaws.com"):
		f.mu.Lock()
		defer f.mu.Unlock()
		object, region := cmp.Or(f.s3Object, "s3://artifacts-bucket/stateful"), cmp.Or(f.s3Region, "eu-west-1")
		bucket, key, _ := strings.Cut(strings.TrimPrefix(object, "s3://"), "/")
		// Virtual-hosted style, or path-style for a bucket with dots (its
		// virtual host would not match S3's wildcard certificate).
		wantHost, wantPath := bucket+".s3."+region+".amazonaws.com", "/"+key
		if strings.Contains(bucket, ".") {
			wantHost, wantPath = "s3."+region+".amazonaws.com", "/"+bucket+"/"+key
		}
		asked := strings.TrimPrefix(strings.TrimSuffix(r.Host, ".amazonaws.com"), bucket+".")
		if asked != "s3."+region {
			w.Header().Set("X-Amz-Bucket-Region", region)
			http.Error(w, "PermanentRedirect", http.StatusMovedPermanently)
			return
		}
		if p := checkSigV4(r, nil, "s3", region); p != "" || r.Host != wantHost || r.URL.Path != wantPath {
			f.problems = append(f.problems, p+" host "+r.Host+" path "+r.URL.Path)
			http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
			return
		}
		if !strings.Contains(r.Header.Get("Authorization"), "x-amz-expected-bucket-owner") || r.Header.Get("X-Amz-Expected-Bucket-Owner") != f.s3Owner {
			http.Error(w, "AccessDenied", http.StatusForbidden) // S3's answer when another account owns the bucket
			return
		}
		if v := r.URL.Query().Get("versionId"); f.agent == nil || (v != "" && v != "v2") {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		_, _ = w.Write(f.agent)
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if p := checkSigV4(r, body, "autoscaling", "eu-west-1"); p != "" {
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
func checkSigV4(r *http.Request, body []byte, service, region string) string {
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
	check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	for _, h := range strings.Split(signed, ";") {
		if h != "host" {
			check.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" }).SignHTTP(context.Background(), aws.Credentials{AccessKeyID: fakeAK, SecretAccessKey: fakeSK, SessionToken: fakeToken},
		check, hex.EncodeToString(sum[:]), service, region, at)
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
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "STATEFUL_IMDS_ENDPOINT=" + f.srv.URL, "AWS_ENDPOINT_URL=" + f.srv.URL, "STATEFUL_S3_ENDPOINT=" + f.srv.URL}, env...)
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

// TestS3AgentIsSignedPinnedAndChecked runs the user data's S3 steps against
// a fake IMDS and S3 that checks the SigV4 signature with the AWS SDK's
// signer: the GET carries the expected bucket owner (signed) and the
// version; an object with another sha256, a bucket owned by another account
// and a missing version are refused, and the launch hook is abandoned.
func TestS3AgentIsSignedPinnedAndChecked(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sha256sum", "od"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs curl)", tool)
		}
	}
	good := []byte("the real agent binary")
	sum := sha256.Sum256(good)
	pinned := hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name, owner, version string
		object, region       string
		served               []byte
		wantCode             int
		wantOut              string
	}{
		{name: "pinned", owner: "111122223333", served: good, wantOut: "agent ready"},
		{name: "pinned version", owner: "111122223333", version: "v2", served: good, wantOut: "agent ready"},
		{name: "another version", owner: "111122223333", version: "v1", served: good, wantCode: 1, wantOut: "could not fetch the agent from s3://artifacts-bucket/stateful"},
		{name: "replaced object", owner: "111122223333", served: []byte("evil"), wantCode: 1, wantOut: "not the pinned " + pinned},
		{name: "bucket of another account", owner: "999988887777", served: good, wantCode: 1, wantOut: "(bucket owner 111122223333)"},
		{name: "dotted bucket, path-style", owner: "111122223333", object: "s3://artifacts.example.com/stateful", served: good, wantOut: "agent ready"},
		{name: "bucket in another region", owner: "111122223333", region: "us-east-2", served: good, wantOut: "agent ready"},
		{name: "key SigV4 percent-encodes", owner: "111122223333", object: "s3://artifacts-bucket/builds/v1+2(rc)=x,y@z!*/stateful", served: good, wantOut: "agent ready"},
		{name: "all three", owner: "111122223333", object: "s3://artifacts.example.com/a+b/stateful", region: "ap-southeast-2", version: "v2", served: good, wantOut: "agent ready"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAWS(t, c.served)
			f.s3Owner = c.owner
			f.s3Object, f.s3Region = c.object, c.region
			script, err := RenderFile(moduleDir, exampleConfig(), Agent{S3URI: cmp.Or(c.object, "s3://artifacts-bucket/stateful"), S3SHA256: pinned, S3Owner: "111122223333", S3Version: c.version})
			if err != nil {
				t.Fatal(err)
			}
			out, code, installed := getAgent(t, f, script)
			if code != c.wantCode || !strings.Contains(out, c.wantOut) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.wantCode, c.wantOut, out)
			}
			if got, _ := os.ReadFile(installed); (code == 0) != bytes.Equal(got, good) {
				t.Errorf("installed agent %q after exit %d", got, code)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.problems) > 0 {
				t.Fatal(strings.Join(f.problems, "\n"))
			}
			if abandoned := len(f.completes) == 1; abandoned != (code != 0) {
				t.Errorf("exit %d and %d CompleteLifecycleAction calls", code, len(f.completes))
			}
		})
	}
}

// TestNoCredentialOnAnyCommandLine is ps made exhaustive: the user data's
// S3 download and its ABANDON of the hook run with a PATH holding only
// shims that record every command line they are started with (what
// /proc/PID/cmdline shows every local user) before running the real
// command. No secret key, session token, signature or IMDS token may be
// in any of them; a command without a shim fails the run, so none escapes.
func TestNoCredentialOnAnyCommandLine(t *testing.T) {
	t.Parallel()
	shims := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "cmdlines")
	for _, tool := range []string{"curl", "sha256sum", "cut", "od", "tr", "date", "sed", "head", "mktemp", "install", "rm", "uname", "cat"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s is not installed", tool)
		}
		shim := fmt.Sprintf("#!%s\n{ printf '%%s ' \"$0\" \"$@\"; printf '\\n'; } >>%s\nexec %s \"$@\"\n", mustLook(t, "bash"), logFile, real)
		if err := os.WriteFile(filepath.Join(shims, tool), []byte(shim), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := newFakeAWS(t, []byte("a replaced agent"))
	f.s3Owner = "111122223333"
	script, err := RenderFile(moduleDir, exampleConfig(), Agent{S3URI: "s3://artifacts-bucket/stateful", S3SHA256: strings.Repeat("ab", 32), S3Owner: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	out, code, _ := getAgent(t, f, script, "PATH="+shims)
	if code != 1 || !strings.Contains(out, "not the pinned") {
		t.Fatalf("exit %d, want the replaced agent refused:\n%s", code, out)
	}
	f.mu.Lock()
	completes := len(f.completes)
	f.mu.Unlock()
	if completes != 1 {
		t.Fatalf("%d CompleteLifecycleAction calls, want the hook abandoned once (the signed path ran)", completes)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if curls := strings.Count(string(b), "/curl "); curls < 5 {
		t.Fatalf("only %d curl command lines recorded, want the IMDS, S3 and Auto Scaling calls:\n%s", curls, b)
	}
	for _, l := range lines {
		for name, secret := range map[string]string{"secret key": fakeSK, "session token": fakeToken, "signature": "Signature=", "IMDS token": "imds-token", "hex of the secret key": hex.EncodeToString([]byte("AWS4" + fakeSK))[:16]} {
			if strings.Contains(l, secret) {
				t.Errorf("the %s is on a command line: %s", name, l)
			}
		}
	}
	t.Logf("%d command lines checked", len(lines))
}

func mustLook(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed", tool)
	}
	return p
}
