package sim

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DeleteTags as EC2 does it: a key alone removes the tag whatever its
// value, a key with a value only when the value matches, no tags every
// tag but the "aws:" ones; an unknown ID is NotFound and changes nothing.
func TestDeleteTags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 300, nil, nil)
		vol := w.nodes[0].Volume
		tagsOf := func() map[string]string {
			out := map[string]string{}
			w.e.Do(func() {
				for k, v := range w.e.w.volumes[vol].Tags {
					out[k] = v
				}
			})
			return out
		}
		if _, err := w.ec.CreateTags(w.ctx, &ec2.CreateTagsInput{Resources: []string{vol}, Tags: []ec2types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}, {Key: aws.String("c"), Value: aws.String("")}}}); err != nil {
			t.Fatal(err)
		}
		w.e.Do(func() { w.e.w.volumes[vol].Tags["aws:kept"] = "x" })
		del := func(ids []string, tags ...ec2types.Tag) error {
			_, err := w.ec.DeleteTags(w.ctx, &ec2.DeleteTagsInput{Resources: ids, Tags: tags})
			return err
		}
		if err := del([]string{vol, "vol-0000000000000000f"}, ec2types.Tag{Key: aws.String("a")}); err == nil || !strings.Contains(err.Error(), "InvalidVolume.NotFound") {
			t.Fatalf("an unknown volume: %v, want InvalidVolume.NotFound", err)
		}
		if _, ok := tagsOf()["a"]; !ok {
			t.Fatal("a refused call removed a tag")
		}
		if err := del([]string{vol}, ec2types.Tag{Key: aws.String("a")}, ec2types.Tag{Key: aws.String("b"), Value: aws.String("other")}, ec2types.Tag{Key: aws.String("c"), Value: aws.String("")}); err != nil {
			t.Fatal(err)
		}
		got := tagsOf()
		if _, ok := got["a"]; ok {
			t.Error("a key alone did not remove its tag")
		}
		if got["b"] != "2" {
			t.Error("a key with another value removed its tag")
		}
		if _, ok := got["c"]; ok {
			t.Error("a key with its (empty) value did not remove its tag")
		}
		if err := del([]string{vol}); err != nil {
			t.Fatal(err)
		}
		if got := tagsOf(); len(got) != 1 || got["aws:kept"] != "x" {
			t.Errorf("no tags given left %v, want only the aws: tag", got)
		}
		if err := del(nil); err == nil {
			t.Error("no resources: accepted, want MissingParameter")
		}
	})
}
