// Package termtext makes text that anyone may have written (an instance's
// tags: a compromised node writes its own failure tag) safe to print on an
// operator's terminal: control characters, terminal escape sequences and
// the invisible characters that reorder or hide text are shown escaped,
// never sent to the terminal.
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every byte or character a terminal could act on
// written visibly: C0 and C1 controls and DEL (ESC starts every terminal
// escape sequence) as \xNN, format characters (bidirectional overrides,
// zero-width characters) and invalid UTF-8 as \u{NNNN} or \xNN. A
// backslash becomes \\ so that an escape cannot be forged. Printable text,
// non-ASCII letters included, is left as it is.
func Escape(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r), r == '\u2028', r == '\u2029':
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// safe reports whether Escape would change nothing (the common case).
func safe(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
			unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
