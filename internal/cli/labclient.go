//go:build !stateful_node

package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lab"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/rollout"
	"github.com/stateful-aws/stateful/internal/sim"
)

// labDeps reach the running lab's simulator with its credentials.
func labDeps(workDir string) (deps, awsFlags, error) {
	s, err := lab.LoadState(workDir)
	if err != nil {
		return deps{}, awsFlags{}, usageError("%v", err)
	}
	d, f := labDepsAt(s.Endpoint, s.Secret, s.Cluster)
	return d, f, nil
}

// labDepsAt reach a lab's simulator at its endpoint, signing with the
// lab's secret.
func labDepsAt(endpoint, secret, clusterName string) (deps, awsFlags) {
	d := defaultDeps()
	d.clients = func(ctx context.Context, f *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
		c, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider(lab.AccessKeyID, secret, "")})
		if err != nil {
			return nil, nil, err
		}
		return c.AutoScaling, c.EC2, nil
	}
	d.params = func(ctx context.Context, f *awsFlags) (lock.API, error) {
		c, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider(lab.AccessKeyID, secret, "")})
		if err != nil {
			return nil, err
		}
		return c.SSM, nil
	}
	return d, awsFlags{Cluster: clusterName, Region: "us-east-1", EndpointURL: endpoint, Output: "text"}
}

// labRollOptions are `stateful lab roll`'s and the demo's roll: the lab
// puts each subnet in its own zone, so zone by zone is one node at a time
// for three nodes in three subnets, as a three-member quorum requires.
// The built-in check (lab.hcl's app and on_failure) dials from the lab's
// network, where the nodes are.
func labRollOptions(f awsFlags, opts rollout.Options, probe lab.Probe, labID string) *rollOptions {
	o := &rollOptions{awsFlags: f, Timeout: 5 * time.Minute, CheckTimeout: time.Minute, Fast: 250 * time.Millisecond, MaxUnavailable: "1"}
	o.App, o.OnFailure = probe.App, probe.OnFailure
	if o.OnFailure == "" {
		o.OnFailure = string(rollout.Stop)
	}
	if o.App != "" {
		o.dial = lab.DialIn(labID)
	}
	switch {
	case opts.ByZone && opts.WholeZone:
		o.ByZone, o.MaxUnavailable = true, "zone"
	case opts.MaxUnavailable > 0:
		o.ByZone, o.MaxUnavailable = opts.ByZone, strconv.Itoa(opts.MaxUnavailable)
	}
	return o
}

// labRoll is the demo's roll: `stateful roll`'s own code against the
// lab's endpoint, its events also going to the lab's report.
// labID gives the lab's id once it is up.
func labRoll(probe lab.Probe, labID func() string) lab.RollFunc {
	return labRollWith(labDepsAt, probe, labID)
}

func labRollWith(depsAt func(endpoint, secret, clusterName string) (deps, awsFlags), probe lab.Probe, labID func() string) lab.RollFunc {
	return func(ctx context.Context, endpoint, secret, clusterName string, opts rollout.Options, events func(rollout.Event)) error {
		d, f := depsAt(endpoint, secret, clusterName)
		o := labRollOptions(f, opts, probe, labID())
		o.observe = events
		return runRoll(ctx, IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, d, o)
	}
}

// labSnapshot reads the running lab's cluster.
func labSnapshot(ctx context.Context, workDir string) (deps, awsFlags, awsapi.EC2, cluster.Snapshot, error) {
	d, f, err := labDeps(workDir)
	if err != nil {
		return d, f, nil, cluster.Snapshot{}, err
	}
	_, ec, inv, err := d.inventory(ctx, &f)
	if err != nil {
		return d, f, nil, cluster.Snapshot{}, err
	}
	snap, err := inv.Observe(ctx, f.selector(), inventory.Groups, nil)
	return d, f, ec, snap, err
}

func newLabClientCmds(io IO, o *labOptions) []*cobra.Command {
	status := &cobra.Command{
		Use: "status", Short: "stateful status of the running lab", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, f, err := labDeps(o.WorkDir)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), io, d, &statusOptions{awsFlags: f})
		},
	}
	roll := &cobra.Command{
		Use: "roll", Short: "Make a new launch-template version for every node and roll the lab", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, f, ec, snap, err := labSnapshot(cmd.Context(), o.WorkDir)
			if err != nil {
				return err
			}
			st, err := lab.LoadState(o.WorkDir)
			if err != nil {
				return usageError("%v", err)
			}
			var probe lab.Probe
			if o.Config != "" {
				src, err := o.source()
				if err != nil {
					return err
				}
				if probe, err = lab.LoadProbe(src.Dir); err != nil {
					return usageError("%v", err)
				}
				templates := map[string]string{}
				for _, n := range snap.Nodes {
					templates[n.ID] = n.LaunchTemplateID
				}
				if err := lab.ConfigVersions(cmd.Context(), ec, src, templates); err != nil {
					return err
				}
			} else {
				var nodes []sim.NodeSpec
				for _, n := range snap.Nodes {
					nodes = append(nodes, sim.NodeSpec{ID: n.ID, LaunchTemplateID: n.LaunchTemplateID})
				}
				if err := sim.NewVersions(cmd.Context(), ec, nodes, "stateful lab roll: new image"); err != nil {
					return err
				}
			}
			fmt.Fprintf(io.Out, "new launch-template version for %d nodes\n", len(snap.Nodes))
			return runRoll(cmd.Context(), io, d, labRollOptions(f, lab.ByZone, probe.Override(o.Probe), st.ID))
		},
	}
	roll.Flags().StringVar(&o.Probe.App, "app", "", "the roll's built-in check, asked from the lab's network (default: --config's lab.hcl app)")
	roll.Flags().StringVar(&o.Probe.OnFailure, "on-failure", "", `"stop" or "rollback" (default: --config's lab.hcl on_failure, else stop)`)
	kill := &cobra.Command{
		Use: "kill NODE", Short: "Kill a node's instance, as a host failure would; its group replaces it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, ec, snap, err := labSnapshot(cmd.Context(), o.WorkDir)
			if err != nil {
				return err
			}
			n, ok := snap.Node(args[0])
			if !ok || len(n.Instances) == 0 {
				return usageError("node %q has no instance in the lab", args[0])
			}
			id := n.Instances[0].ID
			if _, err := ec.TerminateInstances(cmd.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "killed %s of node %s; watch it come back with stateful lab status\n", id, n.ID)
			return nil
		},
	}
	addSourceFlags(roll.Flags(), o)
	down := &cobra.Command{
		Use: "down", Short: "Tear the running lab down: processes, namespaces, mounts, loop devices, files", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.Stop(cmd.Context(), o.WorkDir, clock.Real{}); err != nil {
				return err
			}
			fmt.Fprintln(io.Out, "lab down")
			return nil
		},
	}
	for _, c := range []*cobra.Command{status, roll, kill, down} {
		c.Flags().StringVar(&o.WorkDir, "work-dir", "/var/lib/stateful-lab", "where the lab keeps its state")
	}
	return []*cobra.Command{status, roll, kill, down}
}
