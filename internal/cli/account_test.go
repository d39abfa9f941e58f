package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// --expect-account through the real SDK and `stateful sim serve` (account
// 123456789012): the right account works; another one, or a roll the
// module's trigger starts with the wrong credentials, stops before any
// other call, with one sentence naming both accounts, and the cluster is
// as it was; a malformed account is a usage error.
func TestExpectAccountThroughTheSDK(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "b")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- Execute(ctx, []string{"sim", "serve", "--nodes", "1", "--boot-time", "10ms"}, IO{In: strings.NewReader(""), Out: pw, Err: io.Discard})
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(line)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String(), errb.String()
	}
	eventually(t, func() bool {
		code, _, _ := run("status", "--cluster", "sim", "--endpoint-url", url, "--expect-account", "123456789012")
		return code == ExitOK
	})
	state := func() string {
		_, out, _ := run("status", "--cluster", "sim", "--endpoint-url", url, "-o", "json")
		var keep []string
		for _, l := range strings.Split(out, "\n") {
			if !strings.Contains(l, "observed_at") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	before := state()

	t.Setenv("STATEFUL_EXPECT_ACCOUNT", "999999999999")
	code, _, errOut := run("roll", "--cluster", "sim", "--endpoint-url", url)
	if code == ExitOK || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "account 123456789012, not the expected account 999999999999: refusing to touch anything") {
		t.Errorf("a roll in the wrong account: exit %d, stderr:\n%s", code, errOut)
	}
	t.Setenv("STATEFUL_EXPECT_ACCOUNT", "")
	if after := state(); after != before {
		t.Errorf("the refused roll changed the cluster:\n%s\nthen\n%s", before, after)
	}
	code, _, errOut = run("status", "--cluster", "sim", "--endpoint-url", url, "--expect-account", "12")
	if code != ExitUsage || !strings.Contains(errOut, `--expect-account "12" is not an AWS account ID`) {
		t.Errorf("a malformed account: exit %d, stderr:\n%s", code, errOut)
	}
}
