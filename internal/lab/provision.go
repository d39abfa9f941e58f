package lab

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/userdata"
)

// ClusterName is the lab's cluster: examples/etcd's.
const ClusterName = "etcd"

type clusterSpec struct {
	Nodes []sim.NodeSpec
}

// NodeConfig is the agent config the module would give a lab node: the
// etcd example's settings (ext4 at /data, the cluster file, node.sh), with
// a drain hook and the lab's short timeouts.
func NodeConfig(n sim.NodeSpec, all []sim.NodeSpec, script []byte) agent.Config {
	var peers []string
	for _, p := range all {
		peers = append(peers, fmt.Sprintf("n%s=http://%s:2380", p.ID, p.IP))
	}
	env := "ETCD_INITIAL_CLUSTER=" + strings.Join(peers, ",") + "\nETCD_INITIAL_CLUSTER_TOKEN=" + ClusterName + "\nETCD_DATA_ROOT=/data\n"
	return agent.Config{
		Version: agent.ConfigVersion, Cluster: ClusterName, NodeID: n.ID, NodeIP: n.IP, Region: "us-east-1",
		ASGName: n.Group, LaunchHook: n.LaunchHook, TerminateHook: cluster.DrainHookName(ClusterName),
		Volume:    agent.Volume{DeviceHint: "/dev/sdf", MountPath: "/data", FileSystem: "ext4", MountOptions: []string{"noatime"}, Owner: "root", Group: "root"},
		Files:     []agent.File{{Path: "/etc/stateful/etcd-cluster.env", ContentBase64: base64.StdEncoding.EncodeToString([]byte(env)), Mode: "0600", Owner: "root", Group: "root"}},
		Script:    agent.Script{InlineBase64: base64.StdEncoding.EncodeToString(script)},
		Timeouts:  agent.Timeouts{Command: 120, Volume: 120, Device: 60, Heartbeat: 10, DrainHeartbeat: 10},
		OnFailure: "abandon",
	}
}

// provision creates the cluster the way Terraform would: user data
// rendered from the module's template, a drain hook per node, and a loop
// device behind every volume.
func (l *Lab) provision(ctx context.Context) error {
	script, err := os.ReadFile(filepath.Join(l.cfg.ModuleDir, "examples/etcd/node.sh"))
	if err != nil {
		return fmt.Errorf("reading the etcd example's node script: %w", err)
	}
	planned := sim.PlanNodes(ClusterName, l.cfg.Nodes, sim.DefaultAZs("us-east-1"))
	var renderErr error
	spec := sim.ClusterSpec{Name: ClusterName, Nodes: l.cfg.Nodes, HookTimeout: 120, VolumeSize: 1,
		UserData: func(n sim.NodeSpec) string {
			cfg := NodeConfig(n, planned, script)
			// The module's default agent with agent.base_url set to the lab.
			ud, err := userdata.RenderFile(l.cfg.ModuleDir, cfg, userdata.ReleaseAgent(l.pin, BaseURL()))
			if err != nil && renderErr == nil {
				renderErr = err
			}
			return base64.StdEncoding.EncodeToString([]byte(ud))
		}}
	as, ec := l.Engine.AutoScaling(), l.Engine.EC2()
	// The volumes need their loop devices before any instance can attach
	// them: provision with the groups at zero, then start them.
	nodes, err := sim.Provision(ctx, as, ec, "us-east-1", spec)
	if err != nil {
		return err
	}
	if renderErr != nil {
		return renderErr
	}
	for _, n := range nodes {
		if _, err := l.newVolume(ctx, n.Volume); err != nil {
			return fmt.Errorf("the loop device of volume %s: %w", n.Volume, err)
		}
		if _, err := as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(n.Group),
			LifecycleHookName: aws.String(cluster.DrainHookName(ClusterName)), LifecycleTransition: aws.String(sim.HookTerminating),
			HeartbeatTimeout: aws.Int32(60), DefaultResult: aws.String("CONTINUE")}); err != nil {
			return err
		}
	}
	l.cluster.Nodes = nodes
	return nil
}

// Nodes are the lab cluster's nodes.
func (l *Lab) Nodes() []sim.NodeSpec { return l.cluster.Nodes }
