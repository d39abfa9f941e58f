//go:build !stateful_node

package appcheck

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// kafka reads the cluster's metadata (brokers, controller, every
// partition's replicas and in-sync replicas) and the topics'
// min.insync.replicas with franz-go's admin client.
type kafka struct{ reach }

func init() {
	drivers["kafka"] = func(r reach) driver { return &kafka{r} }
}

func (k *kafka) checks() []Check {
	return []Check{
		{Name: "kafka-controller", Phase: Before, Run: k.controller},
		{Name: "kafka-min-isr", Phase: Before, Run: k.minISR},
		{Name: "kafka-caught-up", Phase: After, Run: k.caughtUp},
	}
}

// kafkaView is what the checks read of a cluster.
type kafkaView struct {
	meta   kadm.Metadata
	minISR map[string]int // topic -> min.insync.replicas
}

func (k *kafka) view(ctx context.Context, nodes []cluster.Node, configs bool) (kafkaView, error) {
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, k.endpoint(n))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.Dialer(k.dial))
	if err != nil {
		return kafkaView{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	v := kafkaView{minISR: map[string]int{}}
	if v.meta, err = adm.Metadata(ctx); err != nil {
		return v, fmt.Errorf("reading the cluster's metadata: %w", err)
	}
	if !configs {
		return v, nil
	}
	topics := v.meta.Topics.Names()
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return v, fmt.Errorf("reading the topics' min.insync.replicas: %w", err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return v, fmt.Errorf("reading topic %s's configuration: %w", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "min.insync.replicas" && c.Value != nil {
				if n, err := strconv.Atoi(*c.Value); err == nil {
					v.minISR[rc.Name] = n
				}
			}
		}
	}
	return v, nil
}

// broker finds node n's broker: its advertised host:port is n's endpoint,
// or else its host is n's IP.
func (k *kafka) broker(meta kadm.Metadata, n cluster.Node) (int32, bool) {
	for _, b := range meta.Brokers {
		if net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) == k.endpoint(n) {
			return b.NodeID, true
		}
	}
	for _, b := range meta.Brokers {
		if b.Host == n.IP {
			return b.NodeID, true
		}
	}
	return -1, false
}

func (k *kafka) controller(ctx context.Context, nodes []cluster.Node, _ cluster.Node) error {
	v, err := k.view(ctx, nodes, false)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(v.meta.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == v.meta.Controller }) {
		return fmt.Errorf("no controller known (the metadata names controller %d)", v.meta.Controller)
	}
	return nil
}

// minISRBlockers lists the partitions that stop broker b's restart: those
// already below their min.insync.replicas, and those b's restart would
// take below it (b in their in-sync replicas, and too few others). Pure,
// for tests.
func minISRBlockers(meta kadm.Metadata, minISR map[string]int, b int32) []string {
	var out []string
	for _, t := range meta.Topics.Sorted() {
		min := minISR[t.Topic]
		if min == 0 {
			min = 1 // Kafka's default
		}
		for _, p := range t.Partitions.Sorted() {
			isr := len(p.ISR)
			switch {
			case isr < min:
				out = append(out, fmt.Sprintf("%s-%d (in sync %v of replicas %v, below min.insync.replicas %d)", t.Topic, p.Partition, p.ISR, p.Replicas, min))
			case slices.Contains(p.ISR, b) && isr-1 < min:
				out = append(out, fmt.Sprintf("%s-%d (in sync %v of replicas %v: without broker %d below min.insync.replicas %d)", t.Topic, p.Partition, p.ISR, p.Replicas, b, min))
			}
		}
	}
	return out
}

// minISR: broker n's restart takes no partition below its minimum.
func (k *kafka) minISR(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	v, err := k.view(ctx, nodes, true)
	if err != nil {
		return err
	}
	b, ok := k.broker(v.meta, n)
	if !ok {
		return fmt.Errorf("no broker is registered for node %s (%s)", n.ID, k.endpoint(n))
	}
	if bl := minISRBlockers(v.meta, v.minISR, b); len(bl) > 0 {
		return fmt.Errorf("restarting broker %d (node %s) would leave partitions below their minimum in-sync replicas: %s", b, n.ID, strings.Join(bl, "; "))
	}
	return nil
}

// notInSync lists the partitions broker b replicates but is not in sync
// for. Pure, for tests.
func notInSync(meta kadm.Metadata, b int32) []string {
	var out []string
	for _, t := range meta.Topics.Sorted() {
		for _, p := range t.Partitions.Sorted() {
			if slices.Contains(p.Replicas, b) && !slices.Contains(p.ISR, b) {
				out = append(out, fmt.Sprintf("%s-%d", t.Topic, p.Partition))
			}
		}
	}
	return out
}

// caughtUp: node n's broker is registered again and back in sync for
// every partition it replicates, and a controller is known.
func (k *kafka) caughtUp(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	v, err := k.view(ctx, nodes, false)
	if err != nil {
		return err
	}
	b, ok := k.broker(v.meta, n)
	if !ok {
		return fmt.Errorf("node %s's broker (%s) has not registered with the cluster yet", n.ID, k.endpoint(n))
	}
	if out := notInSync(v.meta, b); len(out) > 0 {
		return fmt.Errorf("broker %d (node %s) is not yet in sync for %d partition(s): %s", b, n.ID, len(out), strings.Join(out, ", "))
	}
	return k.controller(ctx, nodes, n)
}

func (k *kafka) leader(ctx context.Context, nodes []cluster.Node) (string, error) {
	v, err := k.view(ctx, nodes, false)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if b, ok := k.broker(v.meta, n); ok && b == v.meta.Controller {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("the controller (broker %d) is on none of the nodes", v.meta.Controller)
}

func (k *kafka) moveLeader(context.Context, []cluster.Node, cluster.Node, cluster.Node) error {
	return ErrNoMove
}
