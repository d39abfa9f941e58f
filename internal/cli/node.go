package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/clock"
)

type nodeOptions struct {
	Config string
}

func newNodeCmd(io IO) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "The node agent, run on each instance by its user data"}
	o := &nodeOptions{}
	boot := &cobra.Command{
		Use:   "bootstrap",
		Short: "Claim the data volume, configure the node and complete its launch hook",
		Long: `Run by the module's user data on every new instance: read IMDSv2, attach the
node's volume (waiting for a terminating predecessor to release it, never
taking it from another running instance), find its device, format it only
if it is blank, mount it through fstab, grow it, chown it, write the node
files, run the node script (configure_cluster_node, then
wait_for_healthy_cluster) while heartbeating the launch hook, and complete
the hook with CONTINUE. On a hard failure it prints a summary and completes
the hook with ABANDON at once (or holds it, per the config). Safe to run
again after a reboot. Logs are JSON lines on stderr.

Exit codes: 0 done, 1 failed (see the summary), 2 bad config or flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runNode(cmd.Context(), io, o, false)
		},
	}
	drain := &cobra.Command{
		Use:   "drain",
		Short: "Hand the volume over when Auto Scaling terminates this instance",
		Long: `Started by bootstrap when the config names a termination hook: waits until
IMDS autoscaling/target-lifecycle-state says Terminated, runs the node
script's optional drain_cluster_node, stops the volume's writers, syncs,
unmounts and detaches the volume, and completes the termination hook.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runNode(cmd.Context(), io, o, true)
		},
	}
	for _, c := range []*cobra.Command{boot, drain} {
		c.Flags().StringVar(&o.Config, "config", "/etc/stateful/node.json", "the node config the user data wrote")
		node.AddCommand(c)
	}
	return node
}

func runNode(ctx context.Context, io IO, o *nodeOptions, drain bool) error {
	f, err := os.Open(o.Config)
	if err != nil {
		return usageError("--config %s: %v", o.Config, err)
	}
	cfg, err := agent.ParseConfig(f)
	f.Close()
	if err != nil {
		return usageError("%s: %v", o.Config, err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	clk := clock.Real{}
	a, err := agent.New(cfg, agent.Deps{
		EC2: ec2.NewFromConfig(awsCfg), AutoScaling: autoscaling.NewFromConfig(awsCfg), IMDS: imds.NewFromConfig(awsCfg),
		Clock: clk, Logger: slog.New(slog.NewJSONHandler(io.Err, nil)).With("component", "agent"), Output: io.Err,
		FetchS3:    agent.S3Fetcher(awsCfg, clk.Now),
		StartDrain: func() error { return startDrain(o.Config) },
	})
	if err != nil {
		return err
	}
	if drain {
		return a.Drain(ctx)
	}
	return a.Bootstrap(ctx)
}

// startDrain runs `stateful node drain` detached from the user data's
// session, so it outlives it and waits for the instance's termination.
func startDrain(configPath string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile("/var/log/stateful-drain.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "node", "drain", "--config", configPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}
