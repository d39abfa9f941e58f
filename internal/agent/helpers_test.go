package agent

import (
	"encoding/base64"
	"log/slog"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
