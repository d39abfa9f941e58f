//go:build !stateful_node

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lab"
)

// labDeps reach the running lab's simulator with static credentials.
func labDeps(workDir string) (deps, awsFlags, error) {
	s, err := lab.LoadState(workDir)
	if err != nil {
		return deps{}, awsFlags{}, usageError("%v", err)
	}
	d := defaultDeps()
	d.clients = func(ctx context.Context, f *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
		c, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: s.Endpoint, Credentials: credentials.NewStaticCredentialsProvider(lab.AccessKeyID, s.Secret, "")})
		if err != nil {
			return nil, nil, err
		}
		return c.AutoScaling, c.EC2, nil
	}
	return d, awsFlags{Cluster: s.Cluster, Region: "us-east-1", EndpointURL: s.Endpoint, Output: "text"}, nil
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
			for _, n := range snap.Nodes {
				if _, err := ec.CreateLaunchTemplateVersion(cmd.Context(), &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(n.LaunchTemplateID),
					SourceVersion: aws.String("$Latest"), VersionDescription: aws.String("stateful lab roll"),
					LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0000000000000d0e2")}}); err != nil {
					return err
				}
			}
			fmt.Fprintf(io.Out, "new launch-template version for %d nodes\n", len(snap.Nodes))
			// Zone by zone: the lab's three nodes sit in three zones, so
			// a whole zone is one node, as its etcd quorum requires.
			return runRoll(cmd.Context(), io, d, &rollOptions{awsFlags: f, Timeout: 5 * time.Minute, Fast: 250 * time.Millisecond, ByZone: true, MaxUnavailable: "zone"})
		},
	}
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
