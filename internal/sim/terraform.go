package sim

import "slices"

// What `terraform apply` does to the world, for tests that interleave it
// with the commands. Like peek.go's readers these act on the world
// directly: Terraform's own calls are not the commands' to fail.

// GroupTag is one tag of a group as a configuration states it.
type GroupTag struct {
	Key, Value        string
	PropagateAtLaunch bool
}

// GroupTags reads a group's tags directly, in the order the group holds
// them: what a configuration that created the group states.
func (e *Engine) GroupTags(group string) []GroupTag {
	var out []GroupTag
	e.Do(func() {
		if g := e.w.groups[group]; g != nil {
			for _, t := range g.Tags {
				out = append(out, GroupTag(t))
			}
		}
	})
	return out
}

// ApplyGroupTags does to groups' tags what `terraform apply` does: the
// aws_autoscaling_group's tag blocks are authoritative, so the provider
// makes each named group's tags exactly the configuration's (its
// CreateOrUpdateTags and DeleteTags): a key the configuration does not name,
// such as a tag a command wrote, is removed, and a changed value is set back.
// Groups the configuration does not name are left alone.
func (e *Engine) ApplyGroupTags(config map[string][]GroupTag) {
	e.Do(func() {
		for name, want := range config {
			g := e.w.groups[name]
			if g == nil {
				continue
			}
			g.Tags = g.Tags[:0:0]
			for _, t := range want {
				g.Tags = append(g.Tags, groupTag(t))
			}
			g.Tags = slices.Clip(g.Tags)
		}
	})
}
