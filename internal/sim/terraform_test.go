package sim

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// `terraform apply` makes a group's tags the configuration's: a tag a
// command wrote goes, a changed value comes back, other groups stay.
func TestApplyGroupTagsRewritesToTheConfiguration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 2, 600, ContinueAfter(time.Second), nil)
		g0, g1 := w.nodes[0].Group, w.nodes[1].Group
		config := w.e.GroupTags(g0)
		if len(config) == 0 {
			t.Fatal("the group has no tags to start with")
		}
		tag := func(g, k, v string) astypes.Tag {
			return astypes.Tag{ResourceId: aws.String(g), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(false)}
		}
		if _, err := w.as.CreateOrUpdateTags(w.ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{
			tag(g0, "stateful:lock", "abc"), tag(g0, config[0].Key, "edited"), tag(g1, "stateful:lock", "abc")}}); err != nil {
			t.Fatal(err)
		}
		w.e.ApplyGroupTags(map[string][]GroupTag{g0: config})
		if got := w.e.GroupTags(g0); !slices.Equal(got, config) {
			t.Fatalf("group %s after apply: %+v, want %+v", g0, got, config)
		}
		if !slices.ContainsFunc(w.e.GroupTags(g1), func(t GroupTag) bool { return t.Key == "stateful:lock" }) {
			t.Fatalf("group %s, not in the configuration, lost its tag", g1)
		}
	})
}

// Parameter Store: create-if-absent, versions from 1, the 100 newest kept,
// a deleted parameter starting over, version selectors, and reads that lag
// under SetStaleReads.
func TestParameterVersionsAndStaleReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		api, ctx := w.e.SSM(), w.ctx
		put := func(v string, overwrite bool) (int64, error) {
			out, err := api.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/stateful/c/lock"), Value: aws.String(v), Overwrite: aws.Bool(overwrite)})
			if err != nil {
				return 0, err
			}
			return out.Version, nil
		}
		get := func(name string) (string, int64, string) {
			out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				return "", 0, apiErr.Code
			}
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(out.Parameter.Value), out.Parameter.Version, ""
		}
		if v, err := put("a", false); v != 1 || err != nil {
			t.Fatalf("create: %d, %v", v, err)
		}
		var apiErr *APIError
		if _, err := put("b", false); !errors.As(err, &apiErr) || apiErr.Code != "ParameterAlreadyExists" {
			t.Fatalf("a second create: %v", err)
		}
		if val, _, _ := get("/stateful/c/lock"); val != "a" {
			t.Fatalf("the refused create changed the value to %q", val)
		}
		for k := 2; k <= 102; k++ {
			if v, err := put("x", true); v != int64(k) || err != nil {
				t.Fatalf("overwrite %d: %d, %v", k, v, err)
			}
		}
		if _, _, code := get("/stateful/c/lock:2"); code != "ParameterVersionNotFound" {
			t.Fatalf("version 2 of 102: %s, want it dropped (100 kept)", code)
		}
		if val, v, _ := get("/stateful/c/lock:3"); val != "x" || v != 3 {
			t.Fatalf("version 3: %q %d", val, v)
		}
		if _, err := api.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/stateful/c/lock")}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/stateful/c/lock")}); !errors.As(err, &apiErr) || apiErr.Code != "ParameterNotFound" {
			t.Fatalf("deleting it again: %v", err)
		}
		w.e.SetStaleReads(5 * time.Second)
		if v, err := put("new", false); v != 1 || err != nil {
			t.Fatalf("created again: %d, %v; want version 1", v, err)
		}
		if _, _, code := get("/stateful/c/lock"); code != "ParameterNotFound" {
			t.Fatalf("a read right after the create: %q, want the stale ParameterNotFound", code)
		}
		time.Sleep(6 * time.Second)
		if val, v, _ := get("/stateful/c/lock"); val != "new" || v != 1 {
			t.Fatalf("after the lag: %q %d", val, v)
		}
	})
}
