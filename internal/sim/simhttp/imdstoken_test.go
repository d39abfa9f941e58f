package simhttp

import (
	"strings"
	"testing"
	"time"
)

// A token is good only for its instance, until its expiry, and only as the
// server issued it; the server keeps no table of tokens, so a flood of
// PUTs holds no memory.
func TestIMDSTokensAreSignedNotStored(t *testing.T) {
	s := &imdsServer{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := s.issue("i-a", now.Add(time.Minute))
	if !s.valid(tok, "i-a", now) {
		t.Fatal("a fresh token is refused")
	}
	forged := strings.Replace(tok, "i-a", "i-b", 1)
	for name, ok := range map[string]bool{
		"another instance": s.valid(tok, "i-b", now),
		"expired":          s.valid(tok, "i-a", now.Add(time.Minute)),
		"forged instance":  s.valid(forged, "i-b", now),
		"another server's": (&imdsServer{}).valid(tok, "i-a", now),
		"garbage":          s.valid("x", "i-a", now),
		"truncated mac":    s.valid(tok[:len(tok)-2], "i-a", now),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
