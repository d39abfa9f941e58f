package release

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stateful-aws/stateful/internal/proctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// tofuCommand is OpenTofu for these tests (proctest.Tofu: the PATH's or
// the offline one of ../shared/tools, already built).
func tofuCommand(t *testing.T) string {
	t.Helper()
	return proctest.Tofu(t, repoRoot)
}

// awsEnv are the simulator's credentials, with IMDS (and any profile) out
// of the way.
var awsEnv = []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

// simCluster is a `stateful sim serve` cluster whose groups carry the
// module's names.
type simCluster struct {
	url string
	as  *autoscaling.Client
	ec  *ec2.Client
}

// simBinary is the full stateful (make build's), for `stateful sim serve`:
// the release binary leaves the simulator out (BuildTags).
var simBinary struct {
	once sync.Once
	bin  string
	err  error
}

func fullBinary(t *testing.T) string {
	t.Helper()
	simBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "stateful-sim-")
		if err != nil {
			simBinary.err = err
			return
		}
		simBinary.bin = filepath.Join(dir, "stateful")
		cmd := exec.Command("go", "build", "-o", simBinary.bin, "./cmd/stateful")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			simBinary.err = fmt.Errorf("go build of the full stateful: %v\n%s", err, out)
		}
	})
	if simBinary.err != nil {
		t.Fatal(simBinary.err)
	}
	return simBinary.bin
}

func startSim(t *testing.T, cluster string) *simCluster {
	t.Helper()
	cmd := proctest.Command(t, fullBinary(t), "sim", "serve", "--cluster", cluster, "--nodes", "3", "--boot-time", "200ms", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("stateful sim serve printed no URL: %v", err)
	}
	s := &simCluster{url: strings.TrimSpace(line)}
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	s.as = autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: creds})
	s.ec = ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: creds})
	return s
}

// members is each group's instance and the launch-template version it
// runs, as instance@version.
func (s *simCluster) members(t *testing.T) map[string]string {
	t.Helper()
	out, err := s.as.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, g := range out.AutoScalingGroups {
		for _, i := range g.Instances {
			m[aws.ToString(g.AutoScalingGroupName)] += fmt.Sprintf("%s@%s/%s", aws.ToString(i.InstanceId), aws.ToString(i.LaunchTemplate.Version), i.LifecycleState)
		}
	}
	return m
}

// waitReady waits for the cluster to be in service the way an operator
// would: stateful roll with nothing to replace waits for every node, then
// has nothing to do.
func (s *simCluster) waitReady(t *testing.T, bin, cluster string) {
	t.Helper()
	cmd := proctest.Command(t, bin, "roll", "--cluster", cluster, "--endpoint-url", s.url, "--region", "us-east-1", "--timeout", "1m")
	cmd.Env = append(os.Environ(), awsEnv...)
	out, err := cmd.CombinedOutput("stateful roll, waiting for the simulated cluster")
	if err != nil {
		t.Fatalf("the simulated cluster did not come into service: %v\n%s", err, out)
	}
}

// newVersion gives every group's launch template a new version, so a roll
// has every node to replace.
func (s *simCluster) newVersion(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	out, err := s.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range out.AutoScalingGroups {
		if _, err := s.ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: g.LaunchTemplate.LaunchTemplateId,
			SourceVersion: aws.String("$Latest"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0000000000000000b")}}); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseServer serves one binary in the release layout on 127.0.0.1 and
// counts its downloads.
func releaseServer(t *testing.T, pin Pin, target Target, body []byte) (base string, gets *atomic.Int32) {
	t.Helper()
	gets = &atomic.Int32{}
	path := "/mirror/" + Path(pin.Version, target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		gets.Add(1)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mirror", gets
}

// applyModule writes a configuration that uses the module with the
// defaults and agent.base_url, then runs tofu init and apply in it with no
// stateful on the PATH, the roll's AWS calls sent to the simulator.
func applyModule(t *testing.T, cluster, baseURL, simURL, cacheHome string) (string, error) {
	t.Helper()
	tofu := tofuCommand(t)
	root, _ := filepath.Abs(repoRoot)
	dir := t.TempDir()
	source, err := filepath.Rel(dir, root) // a local path, not a copy: ../..
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region = "us-east-1"
}

module "cluster" {
  source             = %q
  app_name           = %q
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "t3.small"
  node_files         = []
  node_config_script = base64encode("configure_cluster_node() { :; }\nwait_for_healthy_cluster() { :; }\n")
  security_groups    = ["sg-0123456789abcdef0"]
  nodes = [for i in range(3) : {
    node_id        = format("%%02d", i)
    node_ip        = "10.0.${i}.10"
    node_subnet_id = "subnet-0aaaaaaaaaaaaaaa${i}"
  }]
  data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "root"
    mount_path_owner_group = "root"
    size_in_gibs           = 8
    type                   = "gp3"
  }
  asg_inservice_timeout_in_mins = 2
  agent                         = { base_url = %q }
}
`, source, cluster, baseURL)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"PATH=" + pathWithoutStateful(t), "HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + cacheHome,
		"OFFLINE_TOFU_CACHE=" + offlineTofuCache(), "TF_IN_AUTOMATION=1", "STATEFUL_ENDPOINT_URL=" + simURL}, awsEnv...)
	// The offline tofu rewrites its CLI config on every run: one at a time.
	tofuMu.Lock()
	defer tofuMu.Unlock()
	var log strings.Builder
	for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"apply", "-auto-approve", "-input=false", "-no-color"}} {
		cmd := proctest.Command(t, tofu, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput("tofu " + args[0])
		fmt.Fprintf(&log, "$ tofu %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			return log.String(), fmt.Errorf("tofu %s: %w", args[0], err)
		}
	}
	return log.String(), nil
}

var tofuMu sync.Mutex

// pathWithoutStateful is the PATH minus every directory holding a
// stateful, so the roll trigger must fetch its own.
func pathWithoutStateful(t *testing.T) string {
	t.Helper()
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "stateful")); err != nil {
			keep = append(keep, d)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// offlineTofuCache keeps the offline tofu's build where it is while the
// test points XDG_CACHE_HOME elsewhere.
func offlineTofuCache() string {
	if c := os.Getenv("OFFLINE_TOFU_CACHE"); c != "" {
		return c
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "offline-tofu")
	}
	return filepath.Join(os.Getenv("HOME"), ".cache", "offline-tofu")
}

// TestApplyRollsWithThePinnedReleaseDownloaded is the roll trigger end to
// end: tofu apply of a configuration using the module, against a
// simulated cluster with the module's group names whose nodes all run an
// old launch-template version, with no stateful on the PATH. The trigger
// downloads the pinned release from 127.0.0.1, checks it and rolls every
// node.
func TestApplyRollsWithThePinnedReleaseDownloaded(t *testing.T) {
	t.Parallel()
	tofuCommand(t)
	pin, bin, _, _ := builtRelease(t)
	target := hostTarget(t)
	if sum, _ := FileSHA256(bin); sum != pin.Sum(target) {
		t.Fatalf("this source's %s is not the release release.tf pins (%s, not %s): run make release VERSION=%s", target, sum, pin.Sum(target), pin.Version)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, "e2eroll")
	sim.waitReady(t, bin, "e2eroll")
	before := sim.members(t)
	sim.newVersion(t)
	base, gets := releaseServer(t, pin, target, body)
	cache := t.TempDir()
	out, err := applyModule(t, "e2eroll", base, sim.url, cache)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	after := sim.members(t)
	for g, was := range before {
		inst, _, _ := strings.Cut(was, "@")
		if strings.Contains(after[g], inst) || !strings.HasSuffix(after[g], "@2/InService") || strings.Count(after[g], "@") != 1 {
			t.Errorf("group %s: %s before the apply, %s after; want one new instance, on version 2, InService", g, was, after[g])
		}
	}
	if len(after) != 3 {
		t.Errorf("groups after the roll: %v", after)
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("the release was downloaded %d times, want once", n)
	}
	cached := filepath.Join(cache, "stateful", "v"+pin.Version, FileName(target))
	if sum, err := FileSHA256(cached); err != nil || sum != pin.Sum(target) {
		t.Errorf("the cached binary %s: sha256 %s, %v", cached, sum, err)
	}
	if t.Failed() || testing.Verbose() {
		t.Log(out)
	}
}

// TestApplyFailsOnACorruptedRelease serves a corrupted binary: the apply
// fails with the checksum sentence naming the URL and the pinned sha256,
// and no node is touched.
func TestApplyFailsOnACorruptedRelease(t *testing.T) {
	t.Parallel()
	tofuCommand(t)
	pin, bin, _, _ := builtRelease(t)
	target := hostTarget(t)
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0xff
	bad := sha256.Sum256(body)
	sim := startSim(t, "e2ecorrupt")
	sim.waitReady(t, bin, "e2ecorrupt")
	before := sim.members(t)
	sim.newVersion(t)
	base, _ := releaseServer(t, pin, target, body)
	out, err := applyModule(t, "e2ecorrupt", base, sim.url, t.TempDir())
	if err == nil {
		t.Fatalf("the apply succeeded with a corrupted release:\n%s", out)
	}
	want := fmt.Sprintf("stateful: %s/%s has sha256 %s, not %s, the sha256 the module pins for it: refusing to run it",
		base, Path(pin.Version, target), hex.EncodeToString(bad[:]), pin.Sum(target))
	if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Fatalf("the apply's output lacks %q:\n%s", want, out)
	}
	if after := sim.members(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("nodes changed: %v before, %v after", before, after)
	}
}
