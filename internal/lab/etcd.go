package lab

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// etcdClient talks to the cluster's etcd v3 JSON gateway from inside the
// lab network (the control-plane namespace).
type etcdClient struct {
	http      *http.Client
	endpoints []string
	mu        sync.Mutex
	next      int // endpoint to try first: the last one that answered
}

func (l *Lab) etcd() *etcdClient {
	var eps []string
	for _, n := range l.cluster.Nodes {
		eps = append(eps, "http://"+n.IP+":2379")
	}
	tr := &http.Transport{DialContext: dialerIn(netnsPath(l.cpNetns())), DisableKeepAlives: false, MaxIdleConnsPerHost: 4}
	return &etcdClient{http: &http.Client{Transport: tr}, endpoints: eps}
}

func (c *etcdClient) call(ctx context.Context, path string, body, out any, perTry time.Duration) error {
	b, _ := json.Marshal(body)
	c.mu.Lock()
	first := c.next
	c.mu.Unlock()
	var last error
	for k := range c.endpoints {
		i := (first + k) % len(c.endpoints)
		tctx, cancel := context.WithTimeout(ctx, perTry)
		req, _ := http.NewRequestWithContext(tctx, http.MethodPost, c.endpoints[i]+path, bytes.NewReader(b))
		res, err := c.http.Do(req)
		if err == nil {
			data, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case res.StatusCode != http.StatusOK:
				err = fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(data))
			default:
				err = json.Unmarshal(data, out)
			}
		}
		cancel()
		if err == nil {
			c.mu.Lock()
			c.next = i
			c.mu.Unlock()
			return nil
		}
		last = err
	}
	return last
}

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// put writes a key; it succeeds when some member accepted it (the cluster
// had quorum).
func (c *etcdClient) put(ctx context.Context, key, value string) error {
	var out map[string]any
	return c.call(ctx, "/v3/kv/put", map[string]string{"key": b64s(key), "value": b64s(value)}, &out, 400*time.Millisecond)
}

// get reads a key (linearizable).
func (c *etcdClient) get(ctx context.Context, key string) (string, bool, error) {
	var out struct {
		Kvs []struct{ Value string } `json:"kvs"`
	}
	if err := c.call(ctx, "/v3/kv/range", map[string]string{"key": b64s(key)}, &out, 2*time.Second); err != nil {
		return "", false, err
	}
	if len(out.Kvs) == 0 {
		return "", false, nil
	}
	v, err := base64.StdEncoding.DecodeString(out.Kvs[0].Value)
	return string(v), true, err
}

// members lists the cluster's members: name to member ID.
func (c *etcdClient) members(ctx context.Context) (map[string]string, error) {
	var out struct {
		Members []struct {
			ID   string `json:"ID"`
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := c.call(ctx, "/v3/cluster/member/list", map[string]string{}, &out, 2*time.Second); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, x := range out.Members {
		m[x.Name] = x.ID
	}
	return m, nil
}
