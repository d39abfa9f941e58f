package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// BenchmarkBootstrapOverhead runs a whole bootstrap against the in-process
// simulator with every AWS delay at zero, a no-op node script and a fake
// disk: what is left is the agent's own cost, its polling included (the
// original agent polled every 20 s). ns/op is wall time per bootstrap.
//
// Run: go test -run '^$' -bench Bootstrap ./internal/agent
func BenchmarkBootstrapOverhead(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := sim.New(sim.Config{Clock: clock.Real{}, Timings: sim.Timings{LaunchRetryBase: time.Second, LaunchRetryMax: time.Second,
			HealthCheckInterval: time.Hour, TerminatedRetention: time.Hour, ShutdownDuration: 1}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = e.Run(ctx) }()
		nodes, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "c", Nodes: 1})
		if err != nil {
			b.Fatal(err)
		}
		var inst string
		for inst == "" {
			if m := e.Members(nodes[0].Group); len(m) == 1 && m[0].Lifecycle == "Pending:Wait" {
				inst = m[0].ID
			}
		}
		cfg := &Config{Version: 1, Cluster: "c", NodeID: nodes[0].ID, NodeIP: nodes[0].IP, Region: "us-east-1", ASGName: nodes[0].Group,
			LaunchHook: nodes[0].LaunchHook, Volume: Volume{MountPath: "/data", FileSystem: "xfs"}, Script: Script{InlineBase64: "Cg=="}}
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
		a, err := New(cfg, Deps{EC2: e.EC2(), AutoScaling: e.AutoScaling(), IMDS: sim.IMDS{Engine: e, InstanceID: inst}, Clock: clock.Real{},
			StateDir: b.TempDir(), Disk: fakeDisk{e: e, instance: inst, mu: &sync.Mutex{}, formats: map[string]int{}, releases: new(int)},
			Shell: func(context.Context, Run) error { return nil }})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := a.Bootstrap(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cancel()
	}
}
