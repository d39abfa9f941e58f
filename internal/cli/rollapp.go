package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/stateful-aws/stateful/internal/appcheck"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// appFlags are roll's built-in application checks and its answer to a
// failed replacement.
type appFlags struct {
	App       string
	AppPort   int
	SkipCheck []string
	OnFailure string
	// dial, when set, opens the checks' connections (the lab's network).
	dial appcheck.Dialer
}

func (a *appFlags) registerApp(f *pflag.FlagSet) {
	f.StringVar(&a.App, "app", "", "the application's own checks between nodes, its leader last: "+strings.Join(appcheck.AppNames(), ", "))
	f.IntVar(&a.AppPort, "app-port", 0, "the application's client port on every node (default: etcd 2379, zookeeper 2181, kafka 9092)")
	f.StringSliceVar(&a.SkipCheck, "skip-check", nil, "do not run this built-in check (repeatable; the names are in the roll's help)")
	f.StringVar(&a.OnFailure, "on-failure", string(rollout.Stop), `what to do with a node whose replacement failed: "stop" (leave it) or "rollback" (back to its last good launch-template version, then stop)`)
}

// check refuses flags that do not fit together, changing nothing.
func (a *appFlags) checkApp() error {
	if a.App == "" && (a.AppPort != 0 || len(a.SkipCheck) > 0) {
		return usageError("--app-port and --skip-check apply to a built-in check: give --app %s as well", strings.Join(appcheck.AppNames(), "|"))
	}
	if a.OnFailure != string(rollout.Stop) && a.OnFailure != string(rollout.Rollback) {
		return usageError(`--on-failure must be "stop" or "rollback", got %q`, a.OnFailure)
	}
	_, err := a.app()
	return err
}

// app is the built-in check asked for (nil: none).
func (a *appFlags) app() (rollout.App, error) {
	if a.App == "" {
		return nil, nil
	}
	s, err := appcheck.New(appcheck.Config{App: a.App, Port: a.AppPort, Skip: a.SkipCheck, Dial: a.dial})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return s, nil
}

// apply sets the roll's App and OnFailure.
func (a *appFlags) apply(cfg *rollout.Config) error {
	app, err := a.app()
	if err != nil {
		return err
	}
	if app != nil {
		cfg.App = app
	}
	cfg.OnFailure = rollout.OnFailure(a.OnFailure)
	return nil
}

// again renders the flags for a command that resumes the roll.
func (a *appFlags) appAgain() string {
	var b strings.Builder
	if a.App != "" {
		fmt.Fprintf(&b, " --app %s", shellQuote(a.App))
		if a.AppPort != 0 {
			fmt.Fprintf(&b, " --app-port %d", a.AppPort)
		}
		for _, c := range a.SkipCheck {
			fmt.Fprintf(&b, " --skip-check %s", shellQuote(c))
		}
	}
	if a.OnFailure != string(rollout.Stop) {
		fmt.Fprintf(&b, " --on-failure %s", shellQuote(a.OnFailure))
	}
	return b.String()
}
