// Package simtest starts simulated clusters for tests of the code that
// drives them (the roll, the commands, the agent).
package simtest

import (
	"context"
	"testing"

	"github.com/stateful-aws/stateful/internal/sim"
)

// Start builds an engine and runs it until the test ends. Inside a
// testing/synctest bubble, with clock.Real, it runs in virtual time.
func Start(t testing.TB, cfg sim.Config) (*sim.Engine, context.Context) {
	t.Helper()
	e, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, ctx
}

// Cluster provisions a cluster the module's way.
func Cluster(t testing.TB, ctx context.Context, e *sim.Engine, spec sim.ClusterSpec) []sim.NodeSpec {
	t.Helper()
	nodes, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), e.Region(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

// NewVersion makes a new version of every node's launch template (a new
// image), as a Terraform change would (sim.NewVersions).
func NewVersion(t testing.TB, ctx context.Context, e *sim.Engine, nodes []sim.NodeSpec) {
	t.Helper()
	if err := sim.NewVersions(ctx, e.EC2(), nodes, "test: new image"); err != nil {
		t.Fatal(err)
	}
}
