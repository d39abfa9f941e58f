package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
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
prints the endpoint URL as the first line on stdout, then serves until
interrupted. Point the AWS SDK or CLI at it with --endpoint-url or
AWS_ENDPOINT_URL, with any static credentials.

Simulated instances boot by completing their launch hook --boot-time after
they start. IMDS requests name their instance with the header
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
	}
	return nil
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
	e, err := sim.New(sim.Config{Clock: clock.Real{}, Region: o.Region, Seed: o.Seed, Timings: tm, Boot: sim.ContinueAfter(o.BootTime), Logger: log})
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
	nodes, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), o.Region, sim.ClusterSpec{Name: o.Cluster, Nodes: o.Nodes})
	if err != nil {
		return err
	}
	if err := waitInService(ctx, e, nodes); err != nil {
		return err
	}
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

// waitInService waits until every node's group has one instance InService.
func waitInService(ctx context.Context, e *sim.Engine, nodes []sim.NodeSpec) error {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Group
	}
	for {
		ready := 0
		for start := 0; start < len(names); start += 50 {
			out, err := e.AutoScaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names[start:min(start+50, len(names))]})
			if err != nil {
				return err
			}
			for _, g := range out.AutoScalingGroups {
				if len(g.Instances) == 1 && g.Instances[0].LifecycleState == "InService" {
					ready++
				}
			}
		}
		if ready == len(nodes) {
			return nil
		}
		if err := clock.Sleep(ctx, clock.Real{}, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
