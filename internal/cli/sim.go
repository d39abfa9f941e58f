//go:build !stateful_node

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

type simServeOptions struct {
	Listen   string
	Cluster  string
	Nodes    int
	BootTime time.Duration
	Seed     int64
	Timings  string
	Region   string
	// HangBoot and FailBoot are nodes whose first boot hangs in its launch
	// hook or fails (the agent abandons it): stuck nodes to rehearse on.
	HangBoot, FailBoot []string
	HookTimeout        time.Duration
}

func newSimCmd(io IO) *cobra.Command {
	sim := &cobra.Command{Use: "sim", Short: "The simulated AWS control plane (EC2, Auto Scaling, IMDS)"}
	o := &simServeOptions{}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve a simulated cluster over the AWS wire protocols",
		Long: `Serve a simulated AWS region over HTTP: Auto Scaling (awsQuery), EC2
(ec2Query) and IMDSv2, all on one endpoint. It creates a ready cluster of
--nodes nodes laid out and tagged the way the Terraform module lays them out
(per node: ENI with a fixed IP, encrypted volume, launch template version 1,
an Auto Scaling group of one with a launch hook, its instance InService),
prints the endpoint URL as the first line on stdout as soon as it listens
(the nodes boot meanwhile), then serves until interrupted. Point the AWS SDK or CLI at it with --endpoint-url or
AWS_ENDPOINT_URL, with any static credentials.

Simulated instances boot as the node agent does: --boot-time after they
start, they attach their node's data volume and complete their launch hook
with CONTINUE. --hang-boot NODE makes that node's first boot hang in its
launch hook (until --hook-timeout, or stateful recover NODE --abandon or
--continue); --fail-boot NODE makes it fail as the agent does (after
--boot-time it leaves a failure summary on the instance and completes the
hook with ABANDON). Later boots of those nodes succeed, so a
recovery can be rehearsed to the end. IMDS requests name their instance with the header
` + simhttp.InstanceHeader + `, or come from its private IP.

Every flag also reads STATEFUL_<FLAG> (for example STATEFUL_NODES).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runSimServe(cmd.Context(), io, o)
		},
	}
	f := serve.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to listen on")
	f.StringVar(&o.Cluster, "cluster", "sim", "cluster name (the module's app_name)")
	f.IntVar(&o.Nodes, "nodes", 3, "number of nodes, 1 to 500")
	f.DurationVar(&o.BootTime, "boot-time", 2*time.Second, "how long a simulated boot takes before it completes its launch hook")
	f.Int64Var(&o.Seed, "seed", 1, "seed of IDs and probabilistic faults")
	f.StringVar(&o.Timings, "timings", "fast", "AWS delays to simulate: fast (sub-second) or aws (realistic, tens of seconds)")
	f.StringVar(&o.Region, "region", "us-east-1", "simulated region")
	f.StringSliceVar(&o.HangBoot, "hang-boot", nil, "this node's first boot hangs in its launch hook (repeatable)")
	f.StringSliceVar(&o.FailBoot, "fail-boot", nil, "this node's first boot fails: its agent abandons the launch (repeatable)")
	f.DurationVar(&o.HookTimeout, "hook-timeout", 10*time.Minute, "the launch hooks' heartbeat timeout, 30s to 2h (AWS's range)")
	sim.AddCommand(serve)
	return sim
}

func (o *simServeOptions) validate() error {
	switch {
	case o.Nodes < 1 || o.Nodes > 500:
		return usageError("--nodes must be between 1 and 500, got %d", o.Nodes)
	case o.BootTime < 0:
		return usageError("--boot-time must not be negative, got %s", o.BootTime)
	case o.Cluster == "":
		return usageError("--cluster must not be empty")
	case o.Timings != "fast" && o.Timings != "aws":
		return usageError("--timings must be fast or aws, got %q", o.Timings)
	case o.HookTimeout < 30*time.Second || o.HookTimeout > 2*time.Hour || o.HookTimeout%time.Second != 0:
		return usageError("--hook-timeout must be whole seconds from 30s to 2h (AWS's range), got %s", o.HookTimeout)
	}
	ids := map[string]bool{}
	for i := range o.Nodes {
		ids[fmt.Sprintf("%02d", i)] = true
	}
	seen := map[string]string{}
	for flag, list := range map[string][]string{"--hang-boot": o.HangBoot, "--fail-boot": o.FailBoot} {
		for _, id := range list {
			if !ids[id] {
				return usageError("%s %s: no such node; the simulated nodes are 00 to %02d", flag, id, o.Nodes-1)
			}
			if other, ok := seen[id]; ok && other != flag {
				return usageError("node %s is given to both --hang-boot and --fail-boot: one of the two", id)
			}
			seen[id] = flag
		}
	}
	return nil
}

// boot is how the simulated instances boot: as the agent does, except the
// first boot of the --hang-boot and --fail-boot nodes.
func (o *simServeOptions) boot() sim.BootFunc {
	first := map[string]sim.BootFunc{}
	for _, id := range o.HangBoot {
		first[id] = sim.Hang()
	}
	for _, id := range o.FailBoot {
		first[id] = sim.FailAfter(o.BootTime, "node-script: the node script failed: exit status 1 (simulated: sim serve --fail-boot "+id+")")
	}
	return sim.PerNode(first, sim.AgentAfter(o.BootTime))
}

func runSimServe(ctx context.Context, io IO, o *simServeOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	tm := sim.FastTimings()
	if o.Timings == "aws" {
		tm = sim.DefaultTimings()
	}
	log := slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := sim.New(sim.Config{Clock: clock.Real{}, Region: o.Region, Seed: o.Seed, Timings: tm, Boot: o.boot(), Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return usageError("--listen %s: %v", o.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	if _, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), o.Region, sim.ClusterSpec{Name: o.Cluster, Nodes: o.Nodes, HookTimeout: int32(o.HookTimeout / time.Second)}); err != nil {
		return err
	}
	// The URL goes out now: the nodes boot while the operator watches.
	srv := &http.Server{Handler: simhttp.New(e, log), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(io.Out, "http://%s\n", ln.Addr())
	if f, ok := io.Out.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shut, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		return srv.Shutdown(shut)
	case err := <-errc:
		return err
	}
}
