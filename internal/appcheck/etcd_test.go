//go:build !stateful_node

package appcheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/proctest"
)

// etcdBinary is Debian's etcd-server.
const etcdBinary = "/usr/bin/etcd"

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// etcdMember is one launched etcd process.
type etcdMember struct {
	name, client, peer, dir string
	cmd                     *proctest.Cmd
}

func (m *etcdMember) start(t *testing.T, initial string) {
	t.Helper()
	m.cmd = proctest.Command(t, etcdBinary, "--name", m.name, "--data-dir", m.dir,
		"--listen-client-urls", "http://"+m.client, "--advertise-client-urls", "http://"+m.client,
		"--listen-peer-urls", "http://"+m.peer, "--initial-advertise-peer-urls", "http://"+m.peer,
		"--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "appcheck-test")
	if testing.Verbose() {
		m.cmd.Stderr = os.Stderr
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (m *etcdMember) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

// launchEtcd runs a three-member etcd on free loopback ports until the
// test ends.
func launchEtcd(t *testing.T) ([]*etcdMember, []cluster.Node, *Set) {
	t.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		t.Skipf("etcd-server is not installed (%s): apt-get install etcd-server", etcdBinary)
	}
	var members []*etcdMember
	var initial []string
	ep := map[string]string{}
	var nodes []cluster.Node
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("etcd-%d", i), client: freePort(t), peer: freePort(t), dir: t.TempDir()}
		members = append(members, m)
		initial = append(initial, m.name+"=http://"+m.peer)
		nodes = append(nodes, cluster.Node{ID: m.name, IP: "127.0.0.1"})
		ep[m.name] = m.client
	}
	for _, m := range members {
		m.start(t, strings.Join(initial, ","))
		t.Cleanup(m.stop)
	}
	s, err := New(Config{App: "etcd", Endpoint: func(n cluster.Node) string { return ep[n.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	return members, nodes, s
}

// eventually retries f every 100ms until it passes or 30s pass.
func eventually(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		<-tick.C
	}
}

func TestEtcdChecksAgainstARealCluster(t *testing.T) {
	members, nodes, s := launchEtcd(t)
	eventually(t, "the cluster healthy", func(ctx context.Context) error { return s.Check(ctx, nodes, nodes[0]) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, err := s.Leader(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var from, to cluster.Node
	for _, n := range nodes {
		if n.ID == leader {
			from = n
		} else {
			to = n
		}
	}
	if err := s.MoveLeader(ctx, nodes, from, to); err != nil {
		t.Fatalf("MoveLeader(%s -> %s): %v", from.ID, to.ID, err)
	}
	if now, err := s.Leader(ctx, nodes); err != nil || now != to.ID {
		t.Errorf("after MoveLeader to %s the leader is %q (%v)", to.ID, now, err)
	}
	for _, n := range nodes {
		if err := s.CaughtUp(ctx, nodes, n); err != nil {
			t.Errorf("CaughtUp(%s): %v", n.ID, err)
		}
	}

	// A member down blocks the check, naming it; back up, it catches up.
	down := members[0]
	if nodes[0].ID == to.ID {
		down = members[1]
	}
	down.stop()
	var downNode cluster.Node
	for _, n := range nodes {
		if n.ID == down.name {
			downNode = n
		}
	}
	err = s.Check(ctx, nodes, nodes[2])
	if err == nil || !strings.Contains(err.Error(), "check etcd-health") || !strings.Contains(err.Error(), "node "+down.name+" ("+down.client+")") {
		t.Fatalf("with %s down: %v, want etcd-health naming it", down.name, err)
	}
	if err := s.CaughtUp(ctx, nodes, downNode); err == nil || !strings.Contains(err.Error(), down.name) {
		t.Errorf("CaughtUp of the stopped member: %v", err)
	}
	var initial []string
	for _, m := range members {
		initial = append(initial, m.name+"=http://"+m.peer)
	}
	down.start(t, strings.Join(initial, ","))
	eventually(t, "the restarted member caught up", func(ctx context.Context) error { return s.CaughtUp(ctx, nodes, downNode) })
	eventually(t, "the cluster healthy again", func(ctx context.Context) error { return s.Check(ctx, nodes, nodes[2]) })
}
