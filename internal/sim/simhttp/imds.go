package simhttp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
// one whose private IP is the request's source address. A token carries
// its instance and expiry under the server's HMAC, so the server keeps no
// table of them: any number of PUTs costs no memory.
type imdsServer struct {
	e    *sim.Engine
	once sync.Once
	key  []byte
}

const (
	ttlHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	tokenHeader = "X-Aws-Ec2-Metadata-Token"
)

func (s *imdsServer) mac(body string) string {
	s.once.Do(func() {
		s.key = make([]byte, 32)
		_, _ = rand.Read(s.key)
	})
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// issue makes a token for instance id valid until expires.
func (s *imdsServer) issue(id string, expires time.Time) string {
	body := strconv.FormatInt(expires.UnixNano(), 36) + "." + id
	return body + "." + s.mac(body)
}

// valid reports whether tok is this server's, for instance id, unexpired.
func (s *imdsServer) valid(tok, id string, now time.Time) bool {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || !hmac.Equal([]byte(tok[i+1:]), []byte(s.mac(tok[:i]))) {
		return false
	}
	exp, inst, ok := strings.Cut(tok[:i], ".")
	n, err := strconv.ParseInt(exp, 36, 64)
	return ok && err == nil && inst == id && now.Before(time.Unix(0, n))
}

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
	if !s.valid(r.Header.Get(tokenHeader), id, s.e.Now()) {
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
	tok := s.issue(id, s.e.Now().Add(time.Duration(ttl)*time.Second))
	w.Header().Set(ttlHeader, strconv.Itoa(ttl))
	_, _ = io.WriteString(w, tok)
}
