//go:build !stateful_node

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/lab"
)

type labOptions struct {
	Module  string
	Release string
	WorkDir string
	Nodes   int
	Verbose bool
}

func newLabCmd(io IO) *cobra.Command {
	o := &labOptions{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "A real etcd cluster on simulated AWS, on this machine",
		Long: `The local lab makes simulated AWS real: every simulated instance is a
network namespace holding its ENI's IP, with its own mount namespace and
root, a loop device as its EBS volume and an IMDS that answers for it, and
it runs the module's real user data with the module's default agent: the
release the module pins (release.tf), served from --release-dir (make demo
builds it there) as agent.base_url, downloaded and checked against its pinned
sha256 as a user's nodes do. The application is etcd (examples/etcd's node
script). Needs root, iproute2, util-linux, e2fsprogs, curl, etcd-server and
etcd-client.

  stateful lab demo       boot, roll every node, kill one, report, tear down
  stateful lab up         boot the cluster and keep it until Ctrl-C or lab down
  stateful lab status     stateful status of the running lab
  stateful lab roll       a new launch-template version for every node, then stateful roll --by-zone --max-unavailable zone
  stateful lab kill NODE  kill the node's instance, as a host failure would
  stateful lab down       tear the running lab down`,
	}
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Roll a three-node etcd cluster without downtime, heal a node loss, report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runLabDemo(cmd.Context(), io, o)
		},
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Boot the lab cluster and keep it until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runLabUp(cmd.Context(), io, o)
		},
	}
	for _, c := range []*cobra.Command{demo, up} {
		f := c.Flags()
		f.StringVar(&o.Module, "module", ".", "the repository root: the module's user-data template and examples/etcd come from it")
		f.StringVar(&o.Release, "release-dir", "dist", "the release directory (v<version>/stateful-linux-<arch>, as make release writes it) the nodes download the agent from")
		f.StringVar(&o.WorkDir, "work-dir", "/var/lib/stateful-lab", "where the lab keeps volumes, instance roots and logs")
		f.IntVar(&o.Nodes, "nodes", 3, "nodes, 1 to 9")
		f.BoolVar(&o.Verbose, "verbose", false, "log the simulator's and the lab's steps to stderr")
		cmd.AddCommand(c)
	}
	cmd.AddCommand(newLabClientCmds(io, o)...)
	return cmd
}

func (o *labOptions) config(io IO) (lab.Config, error) {
	if _, err := os.Stat(filepath.Join(o.Module, "templates", "user_data.sh.tftpl")); err != nil {
		return lab.Config{}, usageError("--module %s is not the repository root (no templates/user_data.sh.tftpl): run from the repository or pass --module", o.Module)
	}
	if err := lab.CheckRelease(o.Module, o.Release); err != nil {
		return lab.Config{}, usageError("--release-dir: %v", err)
	}
	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelInfo
	}
	return lab.Config{ModuleDir: o.Module, Release: o.Release, WorkDir: o.WorkDir, Nodes: o.Nodes,
		Logger: slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: level}))}, nil
}

func runLabDemo(ctx context.Context, io IO, o *labOptions) error {
	if err := lab.Preflight(); err != nil {
		return usageError("%v", err)
	}
	cfg, err := o.config(io)
	if err != nil {
		return err
	}
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "lab up: simulated AWS at %s\n", l.Endpoint)
	r, err := l.Demo(ctx, lab.DefaultScenario, io.Out)
	if r != nil {
		r.Print(io.Out)
	}
	if err != nil {
		l.KeepLogs()
	}
	if derr := l.Down(); derr != nil {
		fmt.Fprintln(io.Err, "stateful lab: teardown:", derr)
	}
	if err != nil {
		return fmt.Errorf("%w (instance logs kept in %s)", err, l.LogDir())
	}
	return nil
}

func runLabUp(ctx context.Context, io IO, o *labOptions) error {
	if err := lab.Preflight(); err != nil {
		return usageError("%v", err)
	}
	cfg, err := o.config(io)
	if err != nil {
		return err
	}
	if _, err := lab.LoadState(o.WorkDir); err == nil {
		return usageError("a lab is already running (see %s/current.json): stateful lab down first", o.WorkDir)
	}
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		lab.ClearState(o.WorkDir)
		if err := l.Down(); err != nil {
			fmt.Fprintln(io.Err, "stateful lab: teardown:", err)
		}
	}()
	if err := l.SaveState(); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "lab up: cluster %s of %d nodes on simulated AWS at %s\n", lab.ClusterName, o.Nodes, l.Endpoint)
	fmt.Fprintf(io.Out, "  stateful lab status | stateful lab roll | stateful lab kill 01 | stateful lab down\n")
	fmt.Fprintf(io.Out, "  or any stateful command with --endpoint-url %s --cluster %s and the lab's credentials: AWS_ACCESS_KEY_ID=%s, AWS_SECRET_ACCESS_KEY the \"secret\" of %s (root's only)\n", l.Endpoint, lab.ClusterName, lab.AccessKeyID, filepath.Join(o.WorkDir, "current.json"))
	<-ctx.Done()
	return nil
}
