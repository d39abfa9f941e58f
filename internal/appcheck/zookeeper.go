package appcheck

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// zookeeper asks each server with ZooKeeper's four-letter words over its
// client port: srvr (its mode) and, of the leader, mntr (how many
// followers are synced). The servers must allow them:
// 4lw.commands.whitelist=srvr,mntr (or *) in zoo.cfg.
type zookeeper struct{ reach }

func (z *zookeeper) checks() []Check {
	return []Check{
		{Name: "zookeeper-quorum", Phase: Before, Run: z.quorum},
		{Name: "zookeeper-follower", Phase: After, Run: z.follower},
	}
}

// fourLetter sends one four-letter word and returns the answer.
func fourLetter(ctx context.Context, dial Dialer, addr, word string) (string, error) {
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	out := string(b)
	if strings.Contains(out, "not in the whitelist") {
		return "", fmt.Errorf("%s is not allowed on %s: add 4lw.commands.whitelist=srvr,mntr to its zoo.cfg", word, addr)
	}
	return out, nil
}

// zkServer is one server's state.
type zkServer struct {
	node cluster.Node
	mode string // leader, follower, observer, standalone; "" when it does not serve
	err  error
}

// parseSrvr reads the mode from srvr's answer ("Mode: follower"); a server
// without a quorum answers "This ZooKeeper instance is not currently
// serving requests".
func parseSrvr(out string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(m), nil
		}
	}
	if s := strings.TrimSpace(out); s != "" {
		return "", fmt.Errorf("%s", s)
	}
	return "", fmt.Errorf("no answer to srvr")
}

// parseMntr reads mntr's tab-separated key/value lines.
func parseMntr(out string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "\t"); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

func (z *zookeeper) servers(ctx context.Context, nodes []cluster.Node) []zkServer {
	out := make([]zkServer, len(nodes))
	for i, n := range nodes {
		s := zkServer{node: n}
		ans, err := fourLetter(ctx, z.dial, z.endpoint(n), "srvr")
		if err == nil {
			s.mode, err = parseSrvr(ans)
		}
		s.err = err
		out[i] = s
	}
	return out
}

// zkQuorum decides from every server's mode and the leader's synced
// follower count whether the ensemble is whole: exactly one leader, every
// other server a follower (or observer), and the leader counting every
// voting follower as synced. Pure, for tests.
func zkQuorum(servers []zkServer, synced, followers int, ep func(cluster.Node) string) error {
	var leaders, bad []string
	for _, s := range servers {
		switch {
		case s.err != nil:
			bad = append(bad, fmt.Sprintf("node %s (%s): %v", s.node.ID, ep(s.node), s.err))
		case s.mode == "leader" || s.mode == "standalone":
			leaders = append(leaders, s.node.ID)
		case s.mode != "follower" && s.mode != "observer":
			bad = append(bad, fmt.Sprintf("node %s (%s): mode %s", s.node.ID, ep(s.node), s.mode))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("server(s) not serving: %s", strings.Join(bad, "; "))
	}
	if len(leaders) != 1 {
		return fmt.Errorf("%d leaders (%s), want exactly one", len(leaders), strings.Join(leaders, ", "))
	}
	if synced < followers {
		return fmt.Errorf("the leader on node %s counts %d of %d followers synced (zk_synced_followers)", leaders[0], synced, followers)
	}
	return nil
}

// ensemble reads every server and the leader's synced followers.
func (z *zookeeper) ensemble(ctx context.Context, nodes []cluster.Node) error {
	servers := z.servers(ctx, nodes)
	synced, followers := 0, 0
	for _, s := range servers {
		if s.err == nil && s.mode == "follower" {
			followers++
		}
	}
	for _, s := range servers {
		if s.err != nil || s.mode != "leader" {
			continue
		}
		ans, err := fourLetter(ctx, z.dial, z.endpoint(s.node), "mntr")
		if err != nil {
			return fmt.Errorf("mntr on the leader, node %s (%s): %w", s.node.ID, z.endpoint(s.node), err)
		}
		v, ok := parseMntr(ans)["zk_synced_followers"]
		if !ok {
			return fmt.Errorf("the leader on node %s (%s) gave no zk_synced_followers in mntr", s.node.ID, z.endpoint(s.node))
		}
		if synced, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("the leader on node %s gave zk_synced_followers %q", s.node.ID, v)
		}
	}
	return zkQuorum(servers, synced, followers, z.endpoint)
}

// quorum: a leader, every other server following and synced, before a
// node goes.
func (z *zookeeper) quorum(ctx context.Context, nodes []cluster.Node, _ cluster.Node) error {
	return z.ensemble(ctx, nodes)
}

// follower: the replaced server follows again (or leads) and the leader
// counts it synced.
func (z *zookeeper) follower(ctx context.Context, nodes []cluster.Node, n cluster.Node) error {
	ans, err := fourLetter(ctx, z.dial, z.endpoint(n), "srvr")
	if err != nil {
		return fmt.Errorf("node %s (%s): %w", n.ID, z.endpoint(n), err)
	}
	mode, err := parseSrvr(ans)
	if err != nil {
		return fmt.Errorf("node %s (%s): %w", n.ID, z.endpoint(n), err)
	}
	if mode != "follower" && mode != "leader" && mode != "standalone" {
		return fmt.Errorf("node %s (%s) is %s, not yet a follower", n.ID, z.endpoint(n), mode)
	}
	return z.ensemble(ctx, nodes)
}

func (z *zookeeper) leader(ctx context.Context, nodes []cluster.Node) (string, error) {
	for _, s := range z.servers(ctx, nodes) {
		if s.err == nil && (s.mode == "leader" || s.mode == "standalone") {
			return s.node.ID, nil
		}
	}
	return "", fmt.Errorf("no server is the leader")
}

func (z *zookeeper) moveLeader(context.Context, []cluster.Node, cluster.Node, cluster.Node) error {
	return ErrNoMove
}
