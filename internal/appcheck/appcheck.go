// Package appcheck holds the roll's built-in application checks (etcd,
// ZooKeeper, Kafka): each asks the application itself, through its own
// protocol, whether a node may go now and whether its replacement has
// caught up, which node leads, and (where the application can) hands
// leadership to another node. The roll (internal/rollout) calls them
// through its App interface; nothing here talks to AWS.
package appcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Phase says when a check runs.
type Phase int

const (
	// Before runs before a node's instance is terminated: the cluster is
	// healthy by the application's own measure and can lose that node.
	Before Phase = iota
	// After runs once a node's replacement is in service: it has rejoined
	// and caught up, before the next node goes.
	After
)

// Check is one named check; its error says what blocks it (the members,
// servers or partitions).
type Check struct {
	Name  string
	Phase Phase
	Run   func(ctx context.Context, nodes []cluster.Node, n cluster.Node) error
}

// ErrNoMove says the application cannot hand leadership over on request;
// it is an errors.ErrUnsupported, which the roll takes as "go on without".
var ErrNoMove = fmt.Errorf("the application cannot hand leadership over: %w", errors.ErrUnsupported)

// driver is one application's client.
type driver interface {
	checks() []Check
	leader(ctx context.Context, nodes []cluster.Node) (string, error)
	moveLeader(ctx context.Context, nodes []cluster.Node, from, to cluster.Node) error
}

// Config selects and reaches an application.
type Config struct {
	// App is etcd, zookeeper or kafka.
	App string
	// Port is the application's client port on every node (0: its default).
	Port int
	// Skip names checks not to run.
	Skip []string
	// Endpoint, when set, gives a node's client address (host:port) in
	// place of its IP and Port (tests run several servers on one host).
	Endpoint func(cluster.Node) string
	// Dial, when set, opens the checks' connections (the lab dials from
	// its own network namespace); nil dials directly.
	Dial Dialer
}

// Dialer opens a connection, as net.Dialer.DialContext does.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// reach is how a driver reaches the nodes.
type reach struct {
	endpoint func(cluster.Node) string
	dial     Dialer
}

// Apps are the applications with built-in checks, and their default client ports.
var Apps = map[string]int{"etcd": 2379, "zookeeper": 2181, "kafka": 9092}

// drivers make the clients this build has: the node build (tag
// stateful_node), which every node runs as root, leaves out the etcd and
// Kafka client libraries (etcd.go, kafka.go register themselves only in
// the full build); ZooKeeper's four-letter words need only the standard
// library.
var drivers = map[string]func(reach) driver{
	"zookeeper": func(r reach) driver { return &zookeeper{r} },
}

// AppNames lists Apps in order, for messages.
func AppNames() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range Apps {
			if !yield(k) {
				return
			}
		}
	})
}

// Set is one application's checks, minus the skipped ones.
type Set struct {
	name string
	d    driver
	all  []Check
	skip []string
}

// New returns the checks of cfg.App; an unknown application or a skipped
// check it does not have is refused in one sentence.
func New(cfg Config) (*Set, error) {
	port, ok := Apps[cfg.App]
	if !ok {
		return nil, fmt.Errorf("--app %q is not an application with built-in checks: give one of %s", cfg.App, strings.Join(AppNames(), ", "))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("--app-port must be a TCP port (1-65535, or 0 for %s's default %d), got %d", cfg.App, port, cfg.Port)
	}
	if cfg.Port != 0 {
		port = cfg.Port
	}
	ep := cfg.Endpoint
	if ep == nil {
		ep = func(n cluster.Node) string { return net.JoinHostPort(n.IP, strconv.Itoa(port)) }
	}
	mk, ok := drivers[cfg.App]
	if !ok {
		return nil, fmt.Errorf("--app %s needs the full build of stateful (make build, or go run ./cmd/stateful): this binary is the node build (tag stateful_node), which leaves the etcd and Kafka clients out", cfg.App)
	}
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	d := mk(reach{endpoint: ep, dial: dial})
	s := &Set{name: cfg.App, d: d, all: d.checks()}
	var names []string
	for _, c := range s.all {
		names = append(names, c.Name)
	}
	for _, k := range cfg.Skip {
		if !slices.Contains(names, k) {
			return nil, fmt.Errorf("--skip-check %q is not a check of %s: its checks are %s", k, cfg.App, strings.Join(names, ", "))
		}
	}
	s.skip = cfg.Skip
	return s, nil
}

// Name is the application's name.
func (s *Set) Name() string { return s.name }

func (s *Set) run(ctx context.Context, p Phase, nodes []cluster.Node, n cluster.Node) error {
	for _, c := range s.all {
		if c.Phase != p || slices.Contains(s.skip, c.Name) {
			continue
		}
		if err := c.Run(ctx, nodes, n); err != nil {
			return fmt.Errorf("check %s: %w", c.Name, err)
		}
	}
	return nil
}

// Check passes when node n may go now.
func (s *Set) Check(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	return s.run(ctx, Before, nodes, n)
}

// CaughtUp passes once node n's replacement has rejoined and caught up.
func (s *Set) CaughtUp(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	return s.run(ctx, After, nodes, n)
}

// Leader is the id of the node that leads now (the etcd leader, the
// ZooKeeper leader, the Kafka controller).
func (s *Set) Leader(ctx context.Context, nodes []cluster.Node) (string, error) {
	return s.d.leader(ctx, nodes)
}

// MoveLeader hands leadership from node from to node to; ErrNoMove when
// the application cannot.
func (s *Set) MoveLeader(ctx context.Context, nodes []cluster.Node, from, to cluster.Node) error {
	return s.d.moveLeader(ctx, nodes, from, to)
}
