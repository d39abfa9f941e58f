//go:build !stateful_node

package appcheck

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// etcd asks every node's client endpoint for its status (member id,
// leader, raft indexes, alarms) with etcd's own Go client.
type etcd struct{ reach }

func init() {
	drivers["etcd"] = func(r reach) driver { return &etcd{r} }
}

func (e *etcd) checks() []Check {
	return []Check{
		{Name: "etcd-health", Phase: Before, Run: e.health},
		{Name: "etcd-caught-up", Phase: After, Run: e.caughtUp},
	}
}

// etcdStatus is one node's answer.
type etcdStatus struct {
	node cluster.Node
	resp *clientv3.StatusResponse
	err  error
}

func (e *etcd) client(ctx context.Context, nodes []cluster.Node) (*clientv3.Client, error) {
	var eps []string
	for _, n := range nodes {
		eps = append(eps, e.endpoint(n))
	}
	dial := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return e.dial(ctx, "tcp", addr) })
	return clientv3.New(clientv3.Config{Endpoints: eps, Context: ctx, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: []grpc.DialOption{dial}})
}

// statuses asks each node's endpoint for its own status.
func (e *etcd) statuses(ctx context.Context, cli *clientv3.Client, nodes []cluster.Node) []etcdStatus {
	out := make([]etcdStatus, len(nodes))
	for i, n := range nodes {
		resp, err := e.status(ctx, cli, n)
		if err == nil && len(resp.Errors) > 0 {
			err = fmt.Errorf("%s", strings.Join(resp.Errors, "; "))
		}
		out[i] = etcdStatus{node: n, resp: resp, err: err}
	}
	return out
}

// etcdCallTimeout bounds one status call: a member that is down must
// not use up the whole check's time before the others are asked.
const etcdCallTimeout = 3 * time.Second

func (e *etcd) status(ctx context.Context, cli *clientv3.Client, n cluster.Node) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, etcdCallTimeout)
	defer cancel()
	return cli.Status(ctx, e.endpoint(n))
}

// health: every node's member answers without errors or alarms, the
// member list holds no member that answers on no node, and all agree on
// one leader.
func (e *etcd) health(ctx context.Context, nodes []cluster.Node, _ cluster.Node) error {
	cli, err := e.client(ctx, nodes)
	if err != nil {
		return err
	}
	defer cli.Close()
	st := e.statuses(ctx, cli, nodes)
	var bad []string
	ids := map[uint64]string{}
	leaders := map[uint64][]string{}
	for _, s := range st {
		if s.err != nil {
			bad = append(bad, fmt.Sprintf("node %s (%s): %v", s.node.ID, e.endpoint(s.node), s.err))
			continue
		}
		ids[s.resp.Header.MemberId] = s.node.ID
		leaders[s.resp.Leader] = append(leaders[s.resp.Leader], s.node.ID)
	}
	if len(bad) > 0 {
		return fmt.Errorf("member(s) not healthy: %s", strings.Join(bad, "; "))
	}
	members, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("listing members: %w", err)
	}
	for _, m := range members.Members {
		if _, ok := ids[m.ID]; !ok {
			return fmt.Errorf("member %s (%x, %s) answers on no node's endpoint: it is down or not one of the cluster's nodes", m.Name, m.ID, strings.Join(m.ClientURLs, " "))
		}
	}
	if len(leaders) != 1 {
		var parts []string
		for l, who := range leaders {
			parts = append(parts, fmt.Sprintf("%s see leader %x", strings.Join(who, ", "), l))
		}
		return fmt.Errorf("the members disagree on the leader: %s", strings.Join(parts, "; "))
	}
	for l := range leaders {
		if _, ok := ids[l]; !ok || l == 0 {
			return fmt.Errorf("no leader: the members report leader %x, which is none of the nodes' members", l)
		}
	}
	return nil
}

// caughtUp: node n's member has applied every entry the leader had
// committed just before it was asked.
func (e *etcd) caughtUp(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	cli, err := e.client(ctx, nodes)
	if err != nil {
		return err
	}
	defer cli.Close()
	mine, err := e.status(ctx, cli, n)
	if err != nil {
		return fmt.Errorf("member of node %s (%s) does not answer: %w", n.ID, e.endpoint(n), err)
	}
	leader, ok := e.byMember(ctx, cli, nodes, mine.Leader)
	if !ok {
		return fmt.Errorf("member of node %s (%s) knows no leader that answers on a node (leader %x)", n.ID, e.endpoint(n), mine.Leader)
	}
	// The leader first, then the member: the member has caught up when it
	// has applied what the leader had committed before.
	ls, err := e.status(ctx, cli, leader)
	if err != nil {
		return fmt.Errorf("leader on node %s (%s) does not answer: %w", leader.ID, e.endpoint(leader), err)
	}
	mine, err = e.status(ctx, cli, n)
	if err != nil {
		return fmt.Errorf("member of node %s (%s) does not answer: %w", n.ID, e.endpoint(n), err)
	}
	if mine.RaftAppliedIndex < ls.RaftIndex {
		return fmt.Errorf("member of node %s (%s) has applied raft index %d, the leader on node %s is at %d", n.ID, e.endpoint(n), mine.RaftAppliedIndex, leader.ID, ls.RaftIndex)
	}
	return nil
}

// byMember finds the node whose endpoint answers as member id.
func (e *etcd) byMember(ctx context.Context, cli *clientv3.Client, nodes []cluster.Node, id uint64) (cluster.Node, bool) {
	for _, s := range e.statuses(ctx, cli, nodes) {
		if s.err == nil && s.resp.Header.MemberId == id {
			return s.node, true
		}
	}
	return cluster.Node{}, false
}

func (e *etcd) leader(ctx context.Context, nodes []cluster.Node) (string, error) {
	cli, err := e.client(ctx, nodes)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	for _, s := range e.statuses(ctx, cli, nodes) {
		if s.err == nil && s.resp.Leader == s.resp.Header.MemberId {
			return s.node.ID, nil
		}
	}
	return "", fmt.Errorf("no node's member is the leader")
}

// moveLeader asks the leader (etcd takes move-leader only from it) to
// hand leadership to node to's member.
func (e *etcd) moveLeader(ctx context.Context, nodes []cluster.Node, from, to cluster.Node) error {
	all, err := e.client(ctx, nodes)
	if err != nil {
		return err
	}
	defer all.Close()
	target, err := e.status(ctx, all, to)
	if err != nil {
		return fmt.Errorf("member of node %s (%s) does not answer: %w", to.ID, e.endpoint(to), err)
	}
	cli, err := e.client(ctx, []cluster.Node{from})
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.MoveLeader(ctx, target.Header.MemberId); err != nil {
		return fmt.Errorf("moving the leadership from node %s to node %s: %w", from.ID, to.ID, err)
	}
	return nil
}
