package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/clock"
)

// removeNodeOptions are remove-node's flags.
type removeNodeOptions struct {
	awsFlags
	Timeout time.Duration
}

// removeNodePoll is how often remove-node looks at the group.
const removeNodePoll = 10 * time.Second

// newRemoveNodeCmd drains a node's group to zero before Terraform deletes
// it. Terraform deletes a removed node's termination hook before its group
// (the hook names the group), and the provider's own scale-in of a group
// it deletes then terminates the instance with no hook: the node's
// drain_cluster_node never runs. The module's per-node terraform_data
// runs this command when it is destroyed, which Terraform does before it
// touches the node's hooks, so the instance terminates through the drain
// hook while it still exists.
func newRemoveNodeCmd(io IO, d deps) *cobra.Command {
	o := &removeNodeOptions{}
	cmd := &cobra.Command{
		Use:   "remove-node --asg GROUP",
		Short: "Drain a removed node's group to zero through its termination hook",
		Long: `Set the node's group (the one --asg names) to 0 instances and wait until
its instance is gone: the instance terminates through the group's
termination hook, so the node agent's drain (drain_cluster_node, unmount,
detach) runs first. The Terraform module runs it when a node leaves the
configuration and drain_on_termination is set, before Terraform deletes
the node's hook, group and volume.

Exit codes:
  0  the group has no instance left (or no longer exists)
  1  error, or --timeout passed with an instance still there
  2  bad flags; nothing was done`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return translate(runRemoveNode(cmd.Context(), io, d, o), &o.awsFlags)
		},
	}
	o.awsFlags.register(cmd.Flags())
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 15*time.Minute, "how long to wait for the instance to drain and terminate")
	return cmd
}

func runRemoveNode(ctx context.Context, io IO, d deps, o *removeNodeOptions) error {
	if o.Cluster != "" || len(o.ASGs) != 1 {
		return usageError("remove-node takes exactly one --asg, the group of the node being removed, and no --cluster")
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive, got %s", o.Timeout)
	}
	as, _, err := d.clients(ctx, &o.awsFlags)
	if err != nil {
		return err
	}
	group := o.ASGs[0]
	describe := func() (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
		return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	}
	out, err := describe()
	if err != nil {
		return err
	}
	if len(out.AutoScalingGroups) == 0 {
		fmt.Fprintf(io.Out, "stateful: group %s no longer exists: nothing to drain\n", group)
		return nil
	}
	if _, err := as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MinSize: aws.Int32(0), DesiredCapacity: aws.Int32(0),
	}); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "stateful: group %s set to 0 instances: waiting for its instance to drain and terminate\n", group)
	deadline := d.clock.Now().Add(o.Timeout)
	for {
		out, err := describe()
		if err != nil {
			return err
		}
		if len(out.AutoScalingGroups) == 0 || len(out.AutoScalingGroups[0].Instances) == 0 {
			fmt.Fprintf(io.Out, "stateful: group %s has no instance left\n", group)
			return nil
		}
		if !d.clock.Now().Before(deadline) {
			var left []string
			for _, i := range out.AutoScalingGroups[0].Instances {
				left = append(left, aws.ToString(i.InstanceId)+" ("+string(i.LifecycleState)+")")
			}
			return fmt.Errorf("group %s still has %s after %s: see stateful recover; run terraform apply again once it is gone", group, strings.Join(left, ", "), o.Timeout)
		}
		if err := clock.Sleep(ctx, d.clock, removeNodePoll); err != nil {
			return err
		}
	}
}
