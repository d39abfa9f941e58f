//go:build !stateful_node

package cli

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stateful-aws/stateful/internal/lab"
	"github.com/stateful-aws/stateful/internal/rollout"
)

type labOptions struct {
	Module   string
	Config   string
	Vars     []string
	VarFiles []string
	Probe    lab.Probe
	Release  string
	WorkDir  string
	Verbose  bool
	KeepLogs bool
	// labID is the lab's id once it is up: the roll's built-in check
	// dials from its network.
	labID string
}

func newLabCmd(io IO) *cobra.Command {
	o := &labOptions{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Your cluster, from its Terraform module block, on simulated AWS on this machine",
		Long: `The local lab makes simulated AWS real: every simulated instance is a
network namespace holding its ENI's IP, with its own mount namespace and
root, a loop device as its EBS volume and an IMDS that answers for it.

--config DIR is a Terraform configuration with a module block calling this
module (examples/etcd, examples/zookeeper). The lab evaluates the block as
Terraform would (variables with -var and .tfvars, locals, file,
templatefile, ...) and the module's own HCL with it, and runs exactly the
user data the module renders for each node, with the module's default
agent: the release the module pins (release.tf), served from --release-dir
(make demo builds it there) as agent.base_url. Subnets, security groups,
images, instance types and key pairs map to the lab's own (listed once).

The demo measures the application with its own client, from the lab
network: DIR/lab.hcl (ready, probe, check, identity) or the flags.
Needs root, iproute2, util-linux, e2fsprogs, curl and the application.

  stateful lab demo --config DIR   boot, roll every node, kill one, report, tear down
  stateful lab up --config DIR     boot the cluster and keep it until Ctrl-C or lab down
  stateful lab status              stateful status of the running lab
  stateful lab roll [--config DIR] new launch-template versions (DIR's user data now,
                                   else a new image), then stateful roll --by-zone --max-unavailable zone
  stateful lab kill NODE           kill the node's instance, as a host failure would
  stateful lab down                tear the running lab down`,
	}
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Roll the configuration's cluster, heal a node loss, report the probe's availability",
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
		addSourceFlags(f, o)
		f.StringVar(&o.Release, "release-dir", "dist", "the release directory (v<version>/stateful-linux-<arch>, as make release writes it) the nodes download the agent from")
		f.StringVar(&o.WorkDir, "work-dir", "/var/lib/stateful-lab", "where the lab keeps volumes, instance roots and logs")
		f.BoolVar(&o.Verbose, "verbose", false, "log the simulator's and the lab's steps to stderr")
		f.BoolVar(&o.KeepLogs, "keep-logs", false, "keep every instance's logs (the agent's, the application's) in WORK-DIR/<lab>-logs after the run, not only after a failure")
		f.StringVar(&o.Probe.Write, "probe", "", "bash command run every 100ms from the lab network (STATEFUL_NODE_IPS, STATEFUL_PROBE_SEQ); exit 0 counts as available (default: DIR/lab.hcl's probe)")
		f.StringVar(&o.Probe.Ready, "ready", "", "bash command that exits 0 once the application serves (default: DIR/lab.hcl's ready, else the probe)")
		f.StringVar(&o.Probe.Check, "check", "", "bash command run at the end that prints the probe SEQs it reads back (default: DIR/lab.hcl's check)")
		f.StringVar(&o.Probe.Identity, "identity", "", "bash command run before the roll and at the end: the same output means every member kept its data (default: DIR/lab.hcl's identity)")
		cmd.AddCommand(c)
	}
	cmd.AddCommand(newLabClientCmds(io, o)...)
	return cmd
}

// addSourceFlags are the flags that name a configuration.
func addSourceFlags(f *pflag.FlagSet, o *labOptions) {
	f.StringVar(&o.Config, "config", "", "a Terraform configuration directory with a module block calling this module, such as examples/etcd")
	f.StringArrayVar(&o.Vars, "var", nil, "a variable of the configuration, NAME=VALUE, as terraform -var (repeatable)")
	f.StringArrayVar(&o.VarFiles, "var-file", nil, "a .tfvars file of the configuration, as terraform -var-file (repeatable)")
	f.StringVar(&o.Module, "module", ".", "the module a remote module source (git::...) stands for: this repository's root")
}

func (o *labOptions) source() (lab.Source, error) {
	if o.Config == "" {
		return lab.Source{}, usageError("--config is required: a Terraform configuration directory with a module block calling this module, such as examples/etcd")
	}
	if st, err := os.Stat(o.Config); err != nil || !st.IsDir() {
		return lab.Source{}, usageError("--config %s is not a directory: give a Terraform configuration directory such as examples/etcd", o.Config)
	}
	return lab.Source{Dir: filepath.Clean(o.Config), Vars: o.Vars, VarFiles: o.VarFiles, ModuleDir: o.Module}, nil
}

func (o *labOptions) config(io IO) (lab.Config, error) {
	src, err := o.source()
	if err != nil {
		return lab.Config{}, err
	}
	// The configuration's module block says which module, hence which
	// pinned release, the nodes run.
	c, err := lab.Evaluate(src, lab.BaseURL())
	if err != nil {
		return lab.Config{}, usageError("%v", err)
	}
	if err := lab.CheckRelease(c.ModuleDir, o.Release); err != nil {
		return lab.Config{}, usageError("--release-dir: %v", err)
	}
	probe, err := lab.LoadProbe(src.Dir)
	if err != nil {
		return lab.Config{}, usageError("%v", err)
	}
	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelInfo
	}
	fmt.Fprintf(io.Out, "cluster %s: %d nodes from %s; the lab's own stand-ins:\n", c.Name, len(c.Nodes), src.Dir)
	for _, m := range c.Mapped {
		fmt.Fprintf(io.Out, "  %s\n", m)
	}
	probe = probe.Override(o.Probe)
	if probe.App != "" {
		// The checks are the roll command's: refuse a wrong one before the lab boots.
		if err := (&appFlags{App: probe.App, OnFailure: cmp.Or(probe.OnFailure, string(rollout.Stop))}).checkApp(); err != nil {
			return lab.Config{}, usageError("%s: %v", filepath.Join(src.Dir, lab.ProbeFile), err)
		}
	}
	return lab.Config{Source: src, Release: o.Release, WorkDir: o.WorkDir, Probe: probe, Roll: labRoll(probe, func() string { return o.labID }),
		Logger: slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: level}))}, nil
}

func runLabDemo(ctx context.Context, io IO, o *labOptions) error {
	// The configuration first: its mistakes are said wherever it runs.
	cfg, err := o.config(io)
	if err != nil {
		return err
	}
	if err := lab.Preflight(); err != nil {
		return usageError("%v", err)
	}
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		return err
	}
	o.labID = l.ID()
	fmt.Fprintf(io.Out, "lab up: simulated AWS at %s\n", l.Endpoint)
	r, err := l.Demo(ctx, lab.DefaultScenario, io.Out)
	if r != nil {
		r.Print(io.Out)
	}
	if err != nil || o.KeepLogs {
		l.KeepLogs()
		fmt.Fprintf(io.Out, "instance logs kept in %s\n", l.LogDir())
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
	// The configuration first: its mistakes are said wherever it runs.
	cfg, err := o.config(io)
	if err != nil {
		return err
	}
	if err := lab.Preflight(); err != nil {
		return usageError("%v", err)
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
		if o.KeepLogs {
			l.KeepLogs()
			fmt.Fprintf(io.Out, "instance logs kept in %s\n", l.LogDir())
		}
		if err := l.Down(); err != nil {
			fmt.Fprintln(io.Err, "stateful lab: teardown:", err)
		}
	}()
	if err := l.SaveState(); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "lab up: cluster %s of %d nodes on simulated AWS at %s\n", l.Cluster().Name, len(l.Nodes()), l.Endpoint)
	fmt.Fprintf(io.Out, "  stateful lab status | stateful lab roll | stateful lab kill 01 | stateful lab down\n")
	fmt.Fprintf(io.Out, "  or any stateful command with --endpoint-url %s --cluster %s and the lab's credentials: AWS_ACCESS_KEY_ID=%s, AWS_SECRET_ACCESS_KEY the \"secret\" of %s (root's only)\n", l.Endpoint, l.Cluster().Name, lab.AccessKeyID, filepath.Join(o.WorkDir, "current.json"))
	l.WatchAgents(ctx, func(f lab.AgentFailure) { fmt.Fprintln(io.Out, f) })
	<-ctx.Done()
	return nil
}
