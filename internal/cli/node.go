package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/clock"
)

type nodeOptions struct {
	Config string
	Output string
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
	probe := &cobra.Command{
		Use:   "probe DEVICE",
		Short: "Say what the agent sees on a device and whether bootstrap would format, mount or refuse it",
		Long: `For an operator debugging a node: inspect DEVICE as bootstrap does (it opens
and reads the device, probes it with blkid -p, checks that its first and
last MiB read back as zeros and that nothing uses it: a mount, /, partitions,
device-mapper) and print what it found, the stamp at the root of its
filesystem when it is mounted, and the decision bootstrap would take for
this node (from --config). It never writes to the device.

Exit codes:
  0  bootstrap would mount it: this node's filesystem, or one it adopts
  1  the device could not be inspected (see the message)
  2  bad flags or config
  3  bootstrap would format it: proven blank
  4  bootstrap refuses it: the message says why`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runNodeProbe(cmd.Context(), io, o, args[0])
		},
	}
	for _, c := range []*cobra.Command{boot, drain, probe} {
		c.Flags().StringVar(&o.Config, "config", "/etc/stateful/node.json", "the node config the user data wrote")
		node.AddCommand(c)
	}
	probe.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return node
}

func runNodeProbe(ctx context.Context, io IO, o *nodeOptions, dev string) error {
	if o.Output != "text" && o.Output != "json" {
		return usageError("--output must be text or json, got %q", o.Output)
	}
	cfg, err := readNodeConfig(o.Config)
	if err != nil {
		return err
	}
	r, err := agent.ProbeVolume(ctx, dev, cfg)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(io.Out, "%s\n", b)
	} else {
		fmt.Fprint(io.Out, r.Text())
	}
	switch r.Action {
	case agent.VolumeFormat:
		return &exitError{code: ExitProbeWouldFormat, err: fmt.Errorf("bootstrap would format %s", dev)}
	case agent.VolumeRefuse:
		return &exitError{code: ExitProbeRefuses, err: fmt.Errorf("bootstrap refuses %s: %s", dev, r.Why)}
	}
	return nil
}

func readNodeConfig(path string) (*agent.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("--config %s: %v", path, err)
	}
	defer f.Close()
	cfg, err := agent.ParseConfig(f)
	if err != nil {
		return nil, usageError("%s: %v", path, err)
	}
	return cfg, nil
}

func runNode(ctx context.Context, io IO, o *nodeOptions, drain bool) error {
	cfg, err := readNodeConfig(o.Config)
	if err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	clk := clock.Real{}
	a, err := agent.New(cfg, agent.Deps{
		EC2: ec2.NewFromConfig(awsCfg), AutoScaling: autoscaling.NewFromConfig(awsCfg), IMDS: imds.NewFromConfig(awsCfg),
		SSM:   ssm.NewFromConfig(awsCfg),
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
