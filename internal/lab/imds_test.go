//go:build linux

package lab

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The user data's rule (templates/user_data.sh.tftpl) limits IMDS to root
// inside the instance's network namespace, and nothing of it reaches the
// host's: run in a namespace of its own with an IMDS listener at
// 169.254.169.254, root still reads it, another user is refused, and the
// host's ruleset is the same before and after. Root only.
func TestIMDSRootOnlyRuleStaysInTheInstancesNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	for _, tool := range []string{"ip", "nft", "setpriv", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	tpl, err := os.ReadFile(filepath.Join("..", "..", "templates", "user_data.sh.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	_, rule, ok := strings.Cut(string(tpl), "<<'STATEFUL_IMDS_RULE'\n")
	rule, _, ok2 := strings.Cut(rule, "\nSTATEFUL_IMDS_RULE\n")
	if !ok || !ok2 {
		t.Fatal("the user data template has no IMDS rule script (STATEFUL_IMDS_RULE)")
	}
	hostBefore, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, hostBefore)
	}

	ns := fmt.Sprintf("stateful-imdstest-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", imdsIP + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	ln, err := listenIn(netnsPath(ns), imdsIP+":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("credentials")) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	get := func(asUser bool) (string, error) {
		args := []string{"netns", "exec", ns}
		if asUser {
			args = append(args, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
		}
		args = append(args, "curl", "-fsS", "-m", "5", "http://"+imdsIP+"/latest/meta-data/")
		out, err := exec.Command("ip", args...).CombinedOutput()
		return string(out), err
	}
	if out, err := get(true); err != nil || out != "credentials" {
		t.Fatalf("before the rule, another user could not reach the test's IMDS (%v: %s): the check below would be vacuous", err, out)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", rule).CombinedOutput(); err != nil {
		t.Fatalf("the rule script: %v: %s", err, out)
	}
	// Twice: after a reboot the unit applies it again.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", rule).CombinedOutput(); err != nil {
		t.Fatalf("the rule script, again: %v: %s", err, out)
	}
	if out, err := get(false); err != nil || out != "credentials" {
		t.Errorf("root cannot reach IMDS under the rule: %v: %s", err, out)
	}
	if out, err := get(true); err == nil {
		t.Errorf("uid 65534 reached IMDS under the rule: %s", out)
	}
	hostAfter, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil || string(hostAfter) != string(hostBefore) {
		t.Errorf("the host's ruleset changed (%v):\nbefore:\n%s\nafter:\n%s", err, hostBefore, hostAfter)
	}
}
