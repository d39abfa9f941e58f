//go:build !stateful_node

package appcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// kfakeCluster starts franz-go's in-process Kafka with three brokers and a
// topic of three partitions, replication 3, min.insync.replicas 2, and
// returns the nodes (one per broker) and checks reaching them.
func kfakeCluster(t *testing.T) (*kfake.Cluster, []cluster.Node, *Set) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	var nodes []cluster.Node
	ep := map[string]string{}
	for i, a := range addrs {
		id := fmt.Sprintf("kafka-%d", i)
		nodes = append(nodes, cluster.Node{ID: id, IP: "127.0.0.1"})
		ep[id] = a
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	minISR := "2"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &minISR}, "orders"); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{App: "kafka", Endpoint: func(n cluster.Node) string { return ep[n.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	return c, nodes, s
}

// shrinkISR makes every broker answer metadata requests with the real
// metadata of now, except that partition p of orders has only isr in sync
// (kfake itself always reports every replica in sync).
func shrinkISR(t *testing.T, c *kfake.Cluster, p int32, isr func(replicas []int32) []int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	real, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for i := range real.Topics {
		if real.Topics[i].Topic == nil || *real.Topics[i].Topic != "orders" {
			continue
		}
		for j := range real.Topics[i].Partitions {
			if sp := &real.Topics[i].Partitions[j]; sp.Partition == p {
				sp.ISR = isr(sp.Replicas)
			}
		}
	}
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := *real
		resp.SetVersion(req.GetVersion())
		return &resp, nil, true
	})
}

func orderISR(t *testing.T, c *kfake.Cluster, p int32) []int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := kadm.NewClient(cl).Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	return m.Topics["orders"].Partitions[p].ISR
}

func TestKafkaHealthyPasses(t *testing.T) {
	_, nodes, s := kfakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := s.Check(ctx, nodes, n); err != nil {
			t.Errorf("Check(%s) on a healthy cluster: %v", n.ID, err)
		}
		if err := s.CaughtUp(ctx, nodes, n); err != nil {
			t.Errorf("CaughtUp(%s) on a healthy cluster: %v", n.ID, err)
		}
	}
	leader, err := s.Leader(ctx, nodes)
	if err != nil || !slices.ContainsFunc(nodes, func(n cluster.Node) bool { return n.ID == leader }) {
		t.Errorf("Leader = %q, %v; want the node of the controller", leader, err)
	}
}

func TestKafkaUnderReplicatedBlocks(t *testing.T) {
	c, nodes, s := kfakeCluster(t)
	full := orderISR(t, c, 1)
	if len(full) != 3 {
		t.Fatalf("orders-1 in sync %v, want 3 replicas", full)
	}
	out := full[2] // broker 'out' has fallen behind on orders-1
	shrinkISR(t, c, 1, func([]int32) []int32 { return full[:2] })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, n := range nodes {
		err := s.Check(ctx, nodes, n)
		if int32(i) == out {
			// Its restart takes orders-1 nowhere: the other two stay in sync.
			if err != nil {
				t.Errorf("Check(%s), the broker out of sync: %v, want pass", n.ID, err)
			}
			if err := s.CaughtUp(ctx, nodes, n); err == nil || !strings.Contains(err.Error(), "orders-1") || !strings.Contains(err.Error(), "kafka-caught-up") {
				t.Errorf("CaughtUp(%s) = %v, want kafka-caught-up naming orders-1", n.ID, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "orders-1") || !strings.Contains(err.Error(), "check kafka-min-isr") || strings.Contains(err.Error(), "orders-0") {
			t.Errorf("Check(%s) = %v, want kafka-min-isr naming orders-1 alone", n.ID, err)
		}
	}
	// Skipped alone, the check no longer blocks; the controller check still runs.
	ep := map[string]string{}
	for i, a := range c.ListenAddrs() {
		ep[nodes[i].ID] = a
	}
	skip, err := New(Config{App: "kafka", Skip: []string{"kafka-min-isr"}, Endpoint: func(n cluster.Node) string { return ep[n.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := skip.Check(ctx, nodes, nodes[full[0]]); err != nil {
		t.Errorf("with kafka-min-isr skipped: %v", err)
	}
}

func TestKafkaBelowMinimumBlocksEveryBroker(t *testing.T) {
	c, nodes, s := kfakeCluster(t)
	shrinkISR(t, c, 2, func(r []int32) []int32 { return r[:1] })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := s.Check(ctx, nodes, n); err == nil || !strings.Contains(err.Error(), "orders-2") || !strings.Contains(err.Error(), "below min.insync.replicas 2") {
			t.Errorf("Check(%s) = %v, want orders-2 below its minimum", n.ID, err)
		}
	}
}

func TestMinISRBlockers(t *testing.T) {
	meta := func(min int, isr ...int32) (kadm.Metadata, map[string]int) {
		return kadm.Metadata{Topics: kadm.TopicDetails{"t": {Topic: "t", Partitions: kadm.PartitionDetails{
			0: {Topic: "t", Partition: 0, Replicas: []int32{1, 2, 3}, ISR: isr},
		}}}}, map[string]int{"t": min}
	}
	for _, tc := range []struct {
		name  string
		min   int
		isr   []int32
		b     int32
		block bool
	}{
		{"all in sync", 2, []int32{1, 2, 3}, 1, false},
		{"under-replicated, restart keeps the minimum", 2, []int32{1, 2}, 3, false},
		{"under-replicated, restart breaks the minimum", 2, []int32{1, 2}, 1, true},
		{"already below the minimum", 2, []int32{1}, 3, true},
		{"default minimum 1", 0, []int32{1}, 2, false},
		{"default minimum 1, its only in-sync replica", 0, []int32{1}, 1, true},
	} {
		m, min := meta(tc.min, tc.isr...)
		if got := minISRBlockers(m, min, tc.b); (len(got) > 0) != tc.block {
			t.Errorf("%s: blockers %v, want blocked=%v", tc.name, got, tc.block)
		}
	}
}
