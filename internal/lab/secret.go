package lab

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The lab's host listener (127.0.0.1, reachable by every local user) runs
// instances' user data as root when asked to, so it serves only requests
// signed (SigV4) with the lab's own secret key. The key is random per lab
// and kept in the state file, 0600 in a root-only directory; `stateful lab`
// commands read it from there. The listeners inside the lab's network
// (the instances' endpoint and IMDS) need none: only the lab's instances
// reach them.

// AccessKeyID is the access key of the lab's credentials; the secret key
// is the lab's secret.
const AccessKeyID = "stateful-lab"

// maxSkew is how far a request's X-Amz-Date may be from the lab's clock
// (AWS allows 15 minutes), so a captured request cannot be replayed later.
const maxSkew = 15 * time.Minute

// maxSignedBody bounds the body read to check a signature: the largest
// request the simulator takes (a launch template with 16 KB of user data,
// base64 and URL-encoded) fits with room to spare.
const maxSignedBody = 256 << 10

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the lab's secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Credentials are the static credentials the lab's host endpoint accepts.
func (l *Lab) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, l.secret, "")
}

// requireSignature serves only requests signed with the secret: it signs
// the request's signed headers and body again with the secret and compares
// the signatures in constant time. Anything else gets AWS's AuthFailure.
// Everything about the signature that does not need the body (its form,
// the access key, the date) is checked before a byte of the body is read;
// the body itself (which the signature covers through its hash, unsent by
// the SDKs outside S3) is then read up to maxSignedBody, within the
// server's read timeout.
func requireSignature(secret string, now func() time.Time, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := checkHeaders(r, now()); why != "" {
			authFailure(w, why)
			return
		}
		if r.ContentLength > maxSignedBody {
			authFailure(w, "The request body is too large.")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
		if err != nil || len(body) > maxSignedBody {
			authFailure(w, "The request body is unreadable or too large.")
			return
		}
		if why := checkSignature(r, body, secret, now()); why != "" {
			authFailure(w, why)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// checkHeaders says why r cannot be signed with the lab's credentials, from
// its headers alone, or "".
func checkHeaders(r *http.Request, now time.Time) string {
	auth := r.Header.Get("Authorization")
	cred, ok := field(auth, "Credential=")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !ok {
		return "The request is not signed: the lab's endpoint needs its credentials (stateful lab commands read them from the lab's state file)."
	}
	if parts := strings.Split(cred, "/"); len(parts) != 5 || parts[0] != AccessKeyID {
		return "The access key is not the lab's."
	}
	if _, ok := field(auth, "SignedHeaders="); !ok {
		return "The signature names no signed headers."
	}
	if _, ok := field(auth, "Signature="); !ok {
		return "The request carries no signature."
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "The request has no valid X-Amz-Date."
	}
	if d := now.Sub(at); d > maxSkew || d < -maxSkew {
		return "The request's X-Amz-Date is more than 15 minutes from the lab's clock."
	}
	if parts := strings.Split(cred, "/"); parts[1] != at.Format("20060102") || parts[4] != "aws4_request" {
		return "The credential scope's date is not the request's X-Amz-Date."
	}
	return ""
}

// maxHostConns caps the host listener's open connections: every local user
// reaches it.
const maxHostConns = 32

// capListener accepts at most n connections at a time; the next waits in
// the kernel's backlog until one closes.
type capListener struct {
	net.Listener
	slots chan struct{}
}

func limitListener(ln net.Listener, n int) net.Listener {
	return &capListener{Listener: ln, slots: make(chan struct{}, n)}
}

func (l *capListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &capConn{Conn: c, release: func() { <-l.slots }}, nil
}

type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// checkSignature says why r is not signed with secret, or "".
func checkSignature(r *http.Request, body []byte, secret string, now time.Time) string {
	if why := checkHeaders(r, now); why != "" {
		return why
	}
	auth := r.Header.Get("Authorization")
	cred, _ := field(auth, "Credential=")
	parts := strings.Split(cred, "/")
	signed, _ := field(auth, "SignedHeaders=")
	if !strings.Contains(";"+signed+";", ";host;") {
		return "The signature does not sign the Host header."
	}
	want := sigV4(r, body, secret, r.Header.Get("X-Amz-Date"), strings.Join(parts[1:], "/"), signed)
	got, _ := field(auth, "Signature=")
	if !hmac.Equal([]byte(got), []byte(want)) {
		return "The request signature does not match the lab's secret."
	}
	return ""
}

// field returns the value of key in a SigV4 Authorization header.
func field(auth, key string) (string, bool) {
	_, v, ok := strings.Cut(auth, key)
	if !ok {
		return "", false
	}
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v), true
}

// authFailure answers as EC2 does to bad credentials.
func authFailure(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>AuthFailure</Code><Message>%s</Message></Error></Errors><RequestID>00000000-0000-4000-8000-000000000000</RequestID></Response>`, why)
}

// privateDir makes dir (and its parents) and leaves it root's alone: mode
// 0700, owned by root, not a link. A directory that exists with looser
// rights is tightened; one owned by another user is refused (they could
// swap its files).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the lab's directory %s: %w", dir, err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return fmt.Errorf("checking the lab's directory %s: %w", dir, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("the lab's directory %s is not a directory of uid %d (a link, or another user's): refusing to use it", dir, os.Geteuid())
	}
	if st.Mode&0o777 != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making the lab's directory %s private: %w", dir, err)
		}
	}
	return nil
}
