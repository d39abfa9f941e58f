package lab

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The lab checks a SigV4 signature by building the canonical request from
// exactly what the client says it signed (its SignedHeaders, its payload
// hash), as AWS does. Re-signing the request with the SDK's signer does
// not work for other clients: that signer picks its own headers (it adds
// Content-Length, leaves others out), so the AWS CLIs' signatures (botocore
// signs Content-Type and whatever else it sent but User-Agent and Expect)
// never matched.

// sigV4 is the signature the secret gives r: the canonical request, the
// string to sign, the signing key (AWS's "Create a signed AWS API
// request").
func sigV4(r *http.Request, body []byte, secret, amzDate, scope, signedHeaders string) string {
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, signedHeaders),
		signedHeaders,
		payloadHash(r, body),
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	parts := strings.Split(scope, "/") // date/region/service/aws4_request
	key := []byte("AWS4" + secret)
	for _, p := range parts {
		key = hmacSHA256(key, p)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalURI is the path as the client sent it, each segment
// URI-encoded (EC2 and Auto Scaling are called at "/").
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if un, err := url.PathUnescape(s); err == nil {
			s = un
		}
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts the query's pairs by name then value, each
// URI-encoded.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if un, err := url.QueryUnescape(k); err == nil {
			k = un
		}
		if un, err := url.QueryUnescape(v); err == nil {
			v = un
		}
		pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// canonicalHeaders are the signed headers, lower-case, their values
// trimmed with inner runs of spaces folded, several values joined by
// commas; Go keeps Host apart from the other headers.
func canonicalHeaders(r *http.Request, signed string) string {
	var b strings.Builder
	for _, h := range strings.Split(signed, ";") {
		var vals []string
		if h == "host" {
			vals = []string{r.Host}
		} else {
			vals = r.Header.Values(h)
			if h == "content-length" && len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(h + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}

// payloadHash is X-Amz-Content-Sha256 when the client sent it (then it
// must be the body's), else the body's sha256.
func payloadHash(r *http.Request, body []byte) string {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	if sent := r.Header.Get("X-Amz-Content-Sha256"); sent != "" && sent != h {
		return sent + " (not the body's)" // never matches
	}
	return h
}

// uriEncode encodes every byte but the unreserved characters.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
