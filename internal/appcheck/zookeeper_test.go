package appcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// fakeZK answers srvr and mntr as a ZooKeeper server would.
type fakeZK struct {
	mu     sync.Mutex
	mode   string // "" : not serving
	synced int
	deny   bool // 4lw not whitelisted
}

func (f *fakeZK) set(mode string, synced int) {
	f.mu.Lock()
	f.mode, f.synced = mode, synced
	f.mu.Unlock()
}

func (f *fakeZK) answer(word string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deny {
		return word + " is not executed because it is not in the whitelist.\n"
	}
	if f.mode == "" {
		return "This ZooKeeper instance is not currently serving requests\n"
	}
	switch word {
	case "srvr":
		return fmt.Sprintf("Zookeeper version: 3.8.4\nLatency min/avg/max: 0/0.0/0\nZxid: 0x100000004\nMode: %s\nNode count: 5\n", f.mode)
	case "mntr":
		s := fmt.Sprintf("zk_version\t3.8.4\nzk_server_state\t%s\n", f.mode)
		if f.mode == "leader" {
			s += fmt.Sprintf("zk_synced_followers\t%d\nzk_synced_observers\t0\n", f.synced)
		}
		return s
	}
	return ""
}

// startFakeZK serves f on 127.0.0.1:0 until the test ends.
func startFakeZK(t *testing.T, f *fakeZK) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 4)
				if _, err := io.ReadFull(c, b); err == nil {
					_, _ = io.WriteString(c, f.answer(string(b)))
				}
			}()
		}
	}()
	return l.Addr().String()
}

func zkEnsemble(t *testing.T) ([]*fakeZK, []cluster.Node, *Set) {
	servers := []*fakeZK{{mode: "follower"}, {mode: "leader", synced: 2}, {mode: "follower"}}
	ep := map[string]string{}
	var nodes []cluster.Node
	for i, f := range servers {
		id := fmt.Sprintf("zk-%d", i)
		nodes = append(nodes, cluster.Node{ID: id, IP: "127.0.0.1"})
		ep[id] = startFakeZK(t, f)
	}
	s, err := New(Config{App: "zookeeper", Endpoint: func(n cluster.Node) string { return ep[n.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	return servers, nodes, s
}

func TestZooKeeperChecks(t *testing.T) {
	servers, nodes, s := zkEnsemble(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Check(ctx, nodes, nodes[0]); err != nil {
		t.Fatalf("healthy ensemble: %v", err)
	}
	if l, err := s.Leader(ctx, nodes); err != nil || l != "zk-1" {
		t.Errorf("Leader = %q, %v; want zk-1", l, err)
	}
	// The roll goes on without a move when the application cannot.
	if err := s.MoveLeader(ctx, nodes, nodes[1], nodes[0]); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("MoveLeader = %v, want an errors.ErrUnsupported", err)
	}

	// zk-2 restarted and still syncing: the leader counts one follower.
	servers[1].set("leader", 1)
	if err := s.Check(ctx, nodes, nodes[0]); err == nil || !strings.Contains(err.Error(), "1 of 2 followers synced") || !strings.Contains(err.Error(), "zookeeper-quorum") {
		t.Errorf("one follower not synced: %v", err)
	}
	servers[2].set("", 0)
	if err := s.CaughtUp(ctx, nodes, nodes[2]); err == nil || !strings.Contains(err.Error(), "zk-2") || !strings.Contains(err.Error(), "not currently serving") {
		t.Errorf("replaced server not serving: %v", err)
	}
	servers[2].set("looking", 0)
	if err := s.CaughtUp(ctx, nodes, nodes[2]); err == nil || !strings.Contains(err.Error(), "zk-2") || !strings.Contains(err.Error(), "not yet a follower") {
		t.Errorf("replaced server looking: %v", err)
	}
	servers[2].set("follower", 0)
	servers[1].set("leader", 2)
	if err := s.CaughtUp(ctx, nodes, nodes[2]); err != nil {
		t.Errorf("replaced server following and synced: %v", err)
	}

	// Two leaders (a split view) and a server without 4lw allowed block.
	servers[0].set("leader", 2)
	if err := s.Check(ctx, nodes, nodes[2]); err == nil || !strings.Contains(err.Error(), "2 leaders") {
		t.Errorf("two leaders: %v", err)
	}
	servers[0].set("follower", 0)
	servers[0].mu.Lock()
	servers[0].deny = true
	servers[0].mu.Unlock()
	if err := s.Check(ctx, nodes, nodes[2]); err == nil || !strings.Contains(err.Error(), "4lw.commands.whitelist") {
		t.Errorf("4lw not allowed: %v", err)
	}
}

func TestZooKeeperServerDownBlocks(t *testing.T) {
	_, nodes, _ := zkEnsemble(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	s, err := New(Config{App: "zookeeper", Endpoint: func(n cluster.Node) string { return dead }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Check(ctx, nodes, nodes[0]); err == nil || !strings.Contains(err.Error(), "zk-0 ("+dead+")") {
		t.Errorf("servers down: %v", err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{App: "mongodb"}, `--app "mongodb" is not an application with built-in checks: give one of etcd, kafka, zookeeper`},
		{Config{App: "etcd", Skip: []string{"zookeeper-quorum"}}, `--skip-check "zookeeper-quorum" is not a check of etcd: its checks are etcd-health, etcd-caught-up`},
		{Config{App: "kafka", Port: 70000}, "--app-port must be a TCP port"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
