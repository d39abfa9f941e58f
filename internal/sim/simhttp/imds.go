package simhttp

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/sim"
)

// imdsServer is IMDSv2: a token from PUT /latest/api/token (TTL 1 to 21600
// seconds, echoed in the response header as the SDK requires), then GETs
// carrying it. The instance is the one named by InstanceHeader, else the
// one whose private IP is the request's source address.
type imdsServer struct {
	e      *sim.Engine
	mu     sync.Mutex
	tokens map[string]imdsToken
}

type imdsToken struct {
	instance string
	expires  time.Time
}

const (
	ttlHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	tokenHeader = "X-Aws-Ec2-Metadata-Token"
	maxTokens   = 10000
)

func (s *imdsServer) instance(r *http.Request) (string, bool) {
	if id := r.Header.Get(InstanceHeader); id != "" {
		if _, ok := s.e.Metadata(id, "meta-data/instance-id"); ok {
			return id, true
		}
		return "", false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "", false
	}
	return s.e.InstanceByIP(host)
}

func (s *imdsServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Server", "EC2ws")
	if r.URL.Path == "/latest/api/token" {
		s.token(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	id, ok := s.instance(r)
	if !ok {
		http.Error(w, "", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	tok, found := s.tokens[r.Header.Get(tokenHeader)]
	s.mu.Unlock()
	if !found || tok.instance != id || !s.e.Now().Before(tok.expires) {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	v, ok := s.e.Metadata(id, strings.TrimPrefix(r.URL.Path, "/latest/"))
	if !ok {
		http.Error(w, "", http.StatusNotFound)
		return
	}
	_, _ = io.WriteString(w, v)
}

func (s *imdsServer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(ttlHeader))
	if err != nil || ttl < 1 || ttl > 21600 {
		http.Error(w, "", http.StatusBadRequest)
		return
	}
	id, ok := s.instance(r)
	if !ok {
		http.Error(w, "", http.StatusForbidden)
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	now := s.e.Now()
	s.mu.Lock()
	if len(s.tokens) >= maxTokens {
		for k, t := range s.tokens {
			if !now.Before(t.expires) {
				delete(s.tokens, k)
			}
		}
	}
	s.tokens[tok] = imdsToken{instance: id, expires: now.Add(time.Duration(ttl) * time.Second)}
	s.mu.Unlock()
	w.Header().Set(ttlHeader, strconv.Itoa(ttl))
	_, _ = io.WriteString(w, tok)
}
