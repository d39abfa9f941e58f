package termtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"node-script: the node script failed: exit status 3", "node-script: the node script failed: exit status 3"},
		{"données prêtes …", "données prêtes …"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"a\nb\rc\td", `a\x0ab\x0dc\x09d`},
		{"\u202egnp.exe", `\u{202e}gnp.exe`},
		{"zero\u200bwidth", `zero\u{200b}width`},
		{"\u009b31m", `\u{009b}31m`},
		{"bad \xff byte", `bad \xff byte`},
		{`forged \x1b`, `forged \\x1b`},
		{"del\x7f", `del\x7f`},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzEscape: whatever the input, the output is valid UTF-8 with no byte
// a terminal acts on, and printable input comes back unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31mred", "\u202e", "\xc2\x9b", "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: not valid UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == '\u200b' {
				t.Fatalf("Escape(%q) = %q still holds %U", s, out, r)
			}
		}
		if !strings.ContainsAny(s, "\\") && safe(s) && out != s {
			t.Fatalf("Escape changed printable %q to %q", s, out)
		}
	})
}
