package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

type tagRecorder struct {
	EC2
	tags []string
}

func (r *tagRecorder) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	for _, t := range in.Tags {
		r.tags = append(r.tags, aws.ToString(t.Value))
	}
	return &ec2.CreateTagsOutput{}, nil
}

// The failure tag is the agent's own line: the step and its error, never
// the node script's output, and with no byte a terminal would act on.
func TestFailureTagHoldsNoScriptOutput(t *testing.T) {
	t.Parallel()
	rec := &tagRecorder{}
	a := &Agent{d: Deps{EC2: rec}, log: slog.New(slog.DiscardHandler), instanceID: "i-1"}
	a.keep("DB_PASSWORD=hunter2")
	a.keep("\x1b]0;owned\x07\x1b[2J")
	a.report(context.Background(), "node-script", &StepError{Step: "node-script", Err: errors.New("the node script failed: exit status 3\x1b[31m")})
	// The summary, and its failure class (whether a relaunch can fix it).
	if len(rec.tags) != 2 || rec.tags[1] != "node" {
		t.Fatalf("tags: %q", rec.tags)
	}
	got := rec.tags[0]
	if got != `node-script: the node script failed: exit status 3\x1b[31m` {
		t.Errorf("failure tag %q", got)
	}
	if strings.Contains(got, "hunter2") || strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("failure tag carries script output or terminal bytes: %q", got)
	}
}

// nosuid and nodev always, last so that they win; noexec when asked.
func TestMountOptionsAlwaysNosuidNodev(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    Volume
		want []string
	}{
		{Volume{}, []string{"nosuid", "nodev"}},
		{Volume{MountOptions: []string{"noatime", "exec"}}, []string{"noatime", "exec", "nosuid", "nodev"}},
		{Volume{MountOptions: []string{"nodev"}, NoExec: true}, []string{"nodev", "nosuid", "noexec"}},
	} {
		if got := c.v.EffectiveMountOptions(); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.v, got, c.want)
		}
	}
}

// The agent's config refuses what the plan refuses: a node id ending in
// -root, tabs, newlines and # in a mount option, and suid or dev.
func TestMountOptionsRefusedAsAtPlanTime(t *testing.T) {
	t.Parallel()
	if _, err := ParseConfig(strings.NewReader(strings.Replace(goodConfig, `"node_id":"00"`, `"node_id":"00-root"`, 1))); err == nil || !strings.Contains(err.Error(), "-root") {
		t.Errorf("node id 00-root: %v, want a refusal", err)
	}
	for _, o := range []string{`noatime\tx`, `noatime\nx`, `noatime#`, `suid`, `dev`} {
		cfg := strings.Replace(goodConfig, `"mount_options":["noatime"]`, `"mount_options":["`+o+`"]`, 1)
		if _, err := ParseConfig(strings.NewReader(cfg)); err == nil || !strings.Contains(err.Error(), "volume.mount_options") {
			t.Errorf("mount option %q: %v, want a refusal naming volume.mount_options", o, err)
		}
	}
}
