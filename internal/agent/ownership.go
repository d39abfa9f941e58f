package agent

import (
	"context"
	"errors"
	"os"
	"os/user"

	"github.com/stateful-aws/stateful/internal/blockdev"
)

// Owners the node script creates. A stock image has no "kafka" user until
// configure_cluster_node installs Kafka; chowning the data volume (or a
// node file) to it before the script runs fails on every relaunch. So an
// owner that does not exist yet is applied right after
// configure_cluster_node and before wait_for_healthy_cluster (the runner
// stops between the two and asks the agent), and one that still does not
// exist then is a configuration error. An owner that exists already (the
// image's own, ec2-user) is applied before the script, as always, so the
// application finds its directory its own when configure starts it.
//
// Creating the user first instead was rejected: the script's own useradd
// (or its package's) would then fail or pick another uid than the one the
// volume's files carry.

func (a *Agent) lookup(name string, group bool) (int, error) {
	if a.d.Lookup != nil {
		return a.d.Lookup(name, group)
	}
	return blockdev.LookupID(name, group)
}

func (a *Agent) chown(root, owner, group string, recursive bool) (bool, error) {
	if a.d.Chown != nil {
		return a.d.Chown(root, owner, group, recursive)
	}
	return blockdev.Chown(root, owner, group, recursive)
}

func (a *Agent) lchown(path string, uid, gid int) error {
	if a.d.Lchown != nil {
		return a.d.Lchown(path, uid, gid)
	}
	return os.Lchown(path, uid, gid)
}

// deferredFile is a node file written root's because its owner did not
// exist yet.
type deferredFile struct {
	Path, Owner, Group string
}

// unknownOwner reports whether err is a lookup of a user or group that
// does not exist (as opposed to a failing lookup).
func unknownOwner(err error) bool {
	var u user.UnknownUserError
	var g user.UnknownGroupError
	return errors.As(err, &u) || errors.As(err, &g)
}

// ownerExists reports whether both names (either may be empty) resolve;
// false with nil when one is unknown, an error when a lookup fails.
func (a *Agent) ownerExists(owner, group string) (bool, error) {
	for _, n := range []struct {
		name  string
		group bool
	}{{owner, false}, {group, true}} {
		if n.name == "" {
			continue
		}
		if _, err := a.lookup(n.name, n.group); err != nil {
			if unknownOwner(err) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// volumeForPrepare is the volume as Prepare gets it: without its owner
// when that owner does not exist yet (applied later by applyOwners).
func (a *Agent) volumeForPrepare() (Volume, error) {
	v := a.cfg.Volume
	ok, err := a.ownerExists(v.Owner, v.Group)
	if err != nil {
		return v, err
	}
	if !ok {
		a.volumeOwnerLater = true
		a.log.Info("the data volume's owner does not exist yet: it is applied after configure_cluster_node", "owner", v.Owner, "group", v.Group, "mount_path", v.MountPath)
		v.Owner, v.Group = "", ""
	}
	return v, nil
}

// applyOwners gives the data volume and the node files the owners that
// did not exist before the node script ran. It runs between
// configure_cluster_node and wait_for_healthy_cluster, once.
func (a *Agent) applyOwners(context.Context) error {
	if a.ownersApplied {
		return nil
	}
	a.ownersApplied = true
	if v := a.cfg.Volume; a.volumeOwnerLater {
		if _, err := a.chown(v.MountPath, v.Owner, v.Group, v.RecursiveChown); err != nil {
			if unknownOwner(err) {
				return configErrorf("the data volume's owner %s does not exist even after configure_cluster_node ran (%v): create it there or in the image, or set mount_path_owner_user/group to an existing user and group", ownerName(v.Owner, v.Group), unknownName(err))
			}
			return err
		}
		a.log.Info("data volume owner applied after configure_cluster_node", "owner", v.Owner, "group", v.Group, "mount_path", v.MountPath)
	}
	for _, f := range a.laterFiles {
		uid, gid := -1, -1
		var err error
		if f.Owner != "" {
			uid, err = a.lookup(f.Owner, false)
		}
		if err == nil && f.Group != "" {
			gid, err = a.lookup(f.Group, true)
		}
		if err != nil {
			if unknownOwner(err) {
				return configErrorf("the owner %s of node file %s does not exist even after configure_cluster_node ran (%v): create it there or in the image", ownerName(f.Owner, f.Group), f.Path, unknownName(err))
			}
			return err
		}
		if err := a.lchown(f.Path, uid, gid); err != nil {
			return err
		}
		a.log.Info("node file owner applied after configure_cluster_node", "path", f.Path, "uid", uid, "gid", gid)
	}
	return nil
}

// unknownName is the lookup's own words for what is missing ("unknown
// user kafka").
func unknownName(err error) string {
	var u user.UnknownUserError
	var g user.UnknownGroupError
	switch {
	case errors.As(err, &u):
		return u.Error()
	case errors.As(err, &g):
		return g.Error()
	}
	return err.Error()
}

func ownerName(owner, group string) string {
	switch {
	case owner == "":
		return ":" + group
	case group == "":
		return owner
	}
	return owner + ":" + group
}
