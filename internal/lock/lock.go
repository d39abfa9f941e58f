// Package lock keeps two commands from taking nodes of one cluster out at
// once: `stateful roll` and `stateful recover --replace` hold the cluster's
// lock while they may terminate instances.
//
// The lock is an SSM Parameter Store parameter per cluster,
// /stateful/<cluster>/lock (Name), which `terraform apply` does not manage
// and so never deletes (a tag on a group did not survive an apply: the
// group's tag blocks are authoritative). Its value names the holder, a
// random token, the lease and, for people, when the holder took and last
// renewed it by its own clock. What it guarantees, and what it does not:
//
//   - Taking a free lock is PutParameter without Overwrite: Parameter Store
//     creates the parameter, or refuses with ParameterAlreadyExists, and of
//     two commands racing exactly one creates it.
//   - Expiry never compares clocks. The holder renews every Lease/3 by
//     overwriting the value, which makes a new version. A waiter judges the
//     holder dead only when it has watched the version stay the same for
//     the holder's lease plus Lag (the longest lag of Parameter Store's
//     reads, a setting: AWS does not publish it) on its own monotonic
//     clock. A holder gives up (its context ends) once its renewals have
//     failed for 2*Lease/3, before any waiter can judge it dead, as long as
//     the two machines' clocks run at about the same rate (they need not
//     agree on the time) and a renewal's answer takes less than Lease/3 to
//     come back.
//   - Every write's answer carries the version it made. A renewal or a
//     takeover holds only when every version since the holder's last one
//     is its own (read back by version selector; a version never changes
//     once written, and a read that shows another's is read again until
//     Lag has passed, see below): a rival's write in between is seen at
//     once, and the holder stops (Hold calls lost).
//     Two takers of a dead lock both overwrite; the second sees the
//     first's version and refuses; its write replaced the first's value,
//     so the first sees it at its next renewal and stops too: both stop,
//     neither acts beside the other. Parameter Store has no conditional
//     write, so this is seen after the fact: the first may act for up to
//     Lease/3 alone before it stops, and the second's value stays until a
//     waiter judges it dead.
//   - --break-lock first watches for a renewal (BreakWatch: Lease/3, twice
//     Lag and a read): a
//     holder that renews meanwhile is alive and the break is refused,
//     naming it; only --force-break-lock takes a lock that is renewing.
//   - Reads may lag writes by up to Lag, and a deleted parameter created
//     again starts over at version 1, so a lagging read may even show a
//     released holder's value at this holder's version number. Until Lag
//     has passed since its last write, a read that shows no parameter or
//     another token proves nothing to a holder: it reads again (a refusal
//     takes Lag longer than one read).
//   - Acquire returns Lag after the write that took the lock, so that the
//     holder's reads (of the cluster too) see everything the previous
//     holder did before it released the lock, as long as AWS's reads lag
//     by less than Lag.
//   - Release deletes the parameter after reading that it still holds this
//     holder's token; Parameter Store has no conditional delete, so a
//     takeover between that read and the delete (only a forced break can
//     take a lock a live holder renews) is deleted with it, and its taker
//     stops at its next renewal. A release or a failed take also deletes
//     a write whose answer was lost, when it reads it back within Lag.
//   - A holder whose process pauses for longer than the lease (a laptop
//     put to sleep) may find on waking that another command took its lock;
//     it learns this at its next renewal, up to Lease/3 later.
//   - A holder that dies leaves the lock until a waiter has watched it for
//     a lease (--lock-wait longer than the lease), or --break-lock.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/termtext"
)

// API is what the lock calls: Parameter Store.
type API interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(context.Context, *ssm.DeleteParameterInput, ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// Name is the parameter that holds a cluster's lock.
func Name(cluster string) string { return Prefix(cluster) + "lock" }

// Prefix is the path under which a cluster's parameters live (the lock,
// the failure mark): /stateful/<cluster>/, the cluster name reduced to the
// characters a parameter name may hold.
func Prefix(cluster string) string {
	b := []byte(cluster)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return "/stateful/" + string(b) + "/"
}

// Defaults of Config.
const (
	DefaultLease = 10 * time.Minute
	DefaultLag   = 5 * time.Second
)

// Mode is how Acquire treats a lock another command holds.
type Mode int

const (
	// Wait waits up to Config.Wait for the holder to release the lock or
	// to be judged dead (no renewal seen for its lease), then refuses.
	Wait Mode = iota
	// Break watches for a renewal (BreakWatch) and takes the lock when
	// none comes; it refuses, naming the holder, when one does.
	Break
	// ForceBreak takes the lock at once, renewing or not.
	ForceBreak
)

// Config sets up a lock.
type Config struct {
	API   API
	Clock clock.Clock
	// Name is the parameter (Name(cluster)).
	Name string
	// Holder says who holds it, for the other side's message
	// ("stateful roll by alice@laptop, pid 4242").
	Holder string
	// Lease: the holder renews at a third of it, and a waiter judges it
	// dead after watching no renewal for a lease (default 10m).
	Lease time.Duration
	// Lag is the longest a Parameter Store read may lag a write (default
	// 5s; AWS does not publish it).
	Lag time.Duration
	// Wait is how long Acquire (Mode Wait) waits for a held lock; zero
	// refuses at once.
	Wait time.Duration
	// Poll is how often a waiter reads the lock (default 2s).
	Poll time.Duration
}

func (c *Config) defaults() error {
	if c.API == nil || c.Clock == nil || c.Name == "" {
		return errors.New("lock: API, Clock and Name are required")
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Lag <= 0 {
		c.Lag = DefaultLag
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	return nil
}

// BreakWatch is how long --break-lock watches for a holder's renewal: its
// renewal interval, plus twice the read lag, plus a read.
func (c Config) BreakWatch(lease time.Duration) time.Duration {
	return lease/3 + 2*c.Lag + c.Poll
}

// value is what the parameter holds.
type value struct {
	Token   string `json:"token"`
	Holder  string `json:"holder"`
	LeaseS  int64  `json:"lease_s"`
	Taken   string `json:"taken"`   // the holder's clock, for people only
	Renewed string `json:"renewed"` // the holder's clock, for people only
}

func (v value) lease() time.Duration {
	if v.LeaseS <= 0 {
		return DefaultLease
	}
	return time.Duration(v.LeaseS) * time.Second
}

// current is the lock as one read saw it.
type current struct {
	value
	Version  int64
	Modified time.Time // AWS's clock, for people only
}

// Lock is a held lock.
type Lock struct {
	cfg     Config
	token   string
	taken   string
	version int64 // the version this holder last wrote, as AWS answered
	// wroteAt is when this holder last sent a write (its clock).
	wroteAt time.Time
	// TookFrom is the holder whose lock Acquire took (a dead one, or one
	// --force-break-lock took); nil when the lock was free.
	TookFrom *Held
}

// Held is the refusal when another command holds the lock, and what a
// holder learns when its lock was taken from it.
type Held struct {
	Name           string
	Holder         string
	Taken, Renewed string // the holder's own clock, as it wrote them
	Version        int64
	Lease          time.Duration // the holder's, as it wrote it
	// Seen is when this command first saw the version it last read (its
	// clock): the version has not changed since, as far as it watched.
	Seen time.Time
	// Renewing: the holder renewed while --break-lock watched.
	Renewing bool
	Watched  time.Duration
	// Lost: this command held the lock and another command took it.
	Lost bool
	// Legacy: an older stateful's command renews its lock tag.
	Legacy bool
}

func (h *Held) Error() string {
	who := fmt.Sprintf("%s (taken %s, last renewed %s by its clock; version %d, unchanged since %s by this command's watch)",
		termtext.Escape(h.Holder), orUnknown(h.Taken), orUnknown(h.Renewed), h.Version, h.Seen.UTC().Format(time.RFC3339))
	switch {
	case h.Legacy:
		return fmt.Sprintf("%s holds the cluster's lock as %s and renews it: let it finish (or stop it), then run this again; --break-lock --force-break-lock removes the tag without waiting",
			termtext.Escape(h.Holder), h.Name)
	case h.Lost:
		return fmt.Sprintf("the cluster's lock (SSM parameter %s) is no longer held by this command: %s (taken %s by its clock) wrote version %d",
			h.Name, termtext.Escape(h.Holder), orUnknown(h.Taken), h.Version)
	case h.Renewing:
		return fmt.Sprintf("the cluster's lock (SSM parameter %s) is held by %s, which renewed it while this command watched for %s: it is running; to take it all the same, add --force-break-lock",
			h.Name, who, h.Watched.Round(time.Second))
	}
	return fmt.Sprintf("another command holds the cluster's lock (SSM parameter %s): %s; if it is dead, pass --break-lock (it first watches for a renewal), or --lock-wait longer than its lease (%s) to wait for it",
		h.Name, who, h.Lease)
}

// orUnknown is a time the holder wrote, escaped for a terminal (the
// parameter's value is anyone's text who may write it).
// orUnknown is a time the holder wrote, escaped for a terminal (the
// parameter holds whatever text its writer put there).
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return termtext.Escape(s)
}

func (l *Lock) encode() string {
	now := l.cfg.Clock.Now().UTC().Format(time.RFC3339)
	if l.taken == "" {
		l.taken = now
	}
	holder := l.cfg.Holder
	if len(holder) > 1024 {
		holder = holder[:1024]
	}
	b, _ := json.Marshal(value{Token: l.token, Holder: holder, LeaseS: int64(l.cfg.Lease / time.Second), Taken: l.taken, Renewed: now})
	return string(b)
}

// Acquire takes the lock, or returns a *Held naming its holder.
func Acquire(ctx context.Context, cfg Config, mode Mode) (*Lock, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	l := &Lock{cfg: cfg, token: hex.EncodeToString(b)}
	l2, err := l.acquire(ctx, mode)
	if err == nil {
		// The holder's reads must see what the previous holder did: they
		// do once Lag has passed since the take, which came after the
		// previous holder's release.
		err = clock.Sleep(ctx, l.cfg.Clock, l.wroteAt.Add(l.cfg.Lag).Sub(l.cfg.Clock.Now()))
	}
	if err != nil {
		var held *Held
		if !errors.As(err, &held) {
			// A write whose answer was lost (or a command stopped) may
			// have taken effect: take it back, so that no dead holder
			// blocks the next command.
			if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil {
				return nil, &NotReleased{Err: err, Release: rerr}
			}
		}
		return nil, err
	}
	return l2, nil
}

func (l *Lock) acquire(ctx context.Context, mode Mode) (*Lock, error) {
	c := l.cfg
	start := c.Clock.Now()
	var seen *current
	var seenAt time.Time
	var createErr error
	for create := true; ; {
		if create {
			v, err := l.put(ctx, false)
			if err == nil {
				l.version = v
				return l, nil
			}
			if !isCode(err, "ParameterAlreadyExists") && classifyLost(err) {
				return nil, err
			}
			createErr, create = err, false
		}
		cur, ok, rerr := l.read(ctx, 0)
		now := c.Clock.Now()
		switch {
		case rerr != nil:
			return nil, rerr
		case ok && cur.Token == l.token:
			// Our own create, whose answer was lost (the SDK's retry then
			// met it as ParameterAlreadyExists).
			l.version = cur.Version
			return l, nil
		case !l.fresh():
			// The create may have landed unseen by a read that lags: no
			// parameter, or a holder from before (a deleted parameter's
			// old value), proves nothing yet.
		case !ok && !isCode(createErr, "ParameterAlreadyExists"):
			return nil, fmt.Errorf("taking the cluster's lock (SSM parameter %s): %w", c.Name, createErr)
		case !ok:
			create = true // released meanwhile
			continue
		default:
			if seen == nil || cur.Version > seen.Version || cur.Token != seen.Token {
				if seen != nil && mode == Break {
					return nil, l.held(cur, now, true, now.Sub(start))
				}
				seen, seenAt = &cur, now
			}
			took := false
			switch mode {
			case ForceBreak:
				took = true
			case Break:
				took = now.Sub(start) >= c.BreakWatch(cur.lease())
			default:
				took = now.Sub(seenAt) >= cur.lease()+c.Lag
				if !took && now.Sub(start) >= c.Wait {
					return nil, l.held(cur, seenAt, false, 0)
				}
			}
			if took {
				return l.takeOver(ctx, cur, seenAt)
			}
		}
		if err := clock.Sleep(ctx, c.Clock, min(c.Poll, c.Lag)); err != nil {
			return nil, err
		}
	}
}

// fresh says whether a read now shows this holder's last write, if it
// landed: Lag has passed since it was sent. Before that, a read that shows
// no parameter or another token may lag (a parameter deleted and created
// again even shows an old holder's value at the same version number).
func (l *Lock) fresh() bool {
	return !l.cfg.Clock.Now().Before(l.wroteAt.Add(l.cfg.Lag))
}

// classifyLost: errors after which the write may not have landed and a
// read is of no use (the caller returns them).
func classifyLost(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && !isCode(err, "ThrottlingException")
}

func (l *Lock) held(cur current, seen time.Time, renewing bool, watched time.Duration) *Held {
	return &Held{Name: l.cfg.Name, Holder: cur.Holder, Taken: cur.Taken, Renewed: cur.Renewed, Version: cur.Version, Lease: cur.lease(),
		Seen: seen, Renewing: renewing, Watched: watched}
}

// takeOver overwrites a lock judged dead (or broken): it holds only if
// no one else wrote since the version it judged.
func (l *Lock) takeOver(ctx context.Context, dead current, seen time.Time) (*Lock, error) {
	v, err := l.put(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("taking the cluster's lock (SSM parameter %s) from %s: %w", l.cfg.Name, termtext.Escape(dead.Holder), err)
	}
	if err := l.onlyMine(ctx, dead.Version, v); err != nil {
		return nil, err
	}
	l.version = v
	l.TookFrom = l.held(dead, seen, false, 0)
	return l, nil
}

// onlyMine checks that every version after last up to v (this holder's
// write) is this holder's: nobody else wrote in between.
func (l *Lock) onlyMine(ctx context.Context, last, v int64) error {
	if v <= last || v-last > maxChecked {
		// Deleted and created again, or many writes since: not ours.
		return l.lost(ctx, 0)
	}
	for n := last + 1; n < v; {
		cur, ok, err := l.read(ctx, n)
		switch {
		case err != nil:
			return err
		case ok && cur.Token == l.token:
			n++
			continue
		case l.fresh():
			return l.lost(ctx, n)
		}
		// A read that lags may show a deleted parameter's old version n.
		if err := clock.Sleep(ctx, l.cfg.Clock, min(l.cfg.Poll, l.cfg.Lag)); err != nil {
			return err
		}
	}
	return nil
}

// maxChecked bounds the versions onlyMine reads: a holder's own writes
// between two answers are its SDK's retries of one lost answer.
const maxChecked = 8

// lost is the *Held that says another command wrote version n (0: the
// current one).
func (l *Lock) lost(ctx context.Context, n int64) error {
	h := &Held{Name: l.cfg.Name, Holder: "another command", Lost: true, Seen: l.cfg.Clock.Now()}
	if cur, ok, err := l.read(ctx, n); err == nil && ok {
		h.Holder, h.Taken, h.Renewed, h.Version = cur.Holder, cur.Taken, cur.Renewed, cur.Version
	}
	return h
}

// NotReleased is a failed acquire whose write may have landed and could
// not be taken back: the lock may stay until a waiter judges it dead.
type NotReleased struct{ Err, Release error }

func (e *NotReleased) Error() string {
	return fmt.Sprintf("%v (and the lock it may have written could not be taken back: %v)", e.Err, e.Release)
}
func (e *NotReleased) Unwrap() error { return e.Err }

// Renew overwrites the lock with a fresh value (a new version), and
// checks that nobody else wrote since this holder's last version.
func (l *Lock) Renew(ctx context.Context) error {
	v, err := l.put(ctx, true)
	if err != nil {
		return fmt.Errorf("renewing the cluster's lock (SSM parameter %s): %w", l.cfg.Name, err)
	}
	if err := l.onlyMine(ctx, l.version, v); err != nil {
		return err
	}
	l.version = v
	return nil
}

// Hold renews the lock at a third of its lease until ctx ends, and calls
// lost once (and stops) when it is no longer this holder's, or when
// renewals have failed for two thirds of the lease: a waiter could judge
// it dead after a lease, while this command still works.
func (l *Lock) Hold(ctx context.Context, lost func(error)) {
	renewed := l.cfg.Clock.Now()
	for clock.Sleep(ctx, l.cfg.Clock, l.cfg.Lease/3) == nil {
		err := l.Renew(ctx)
		var held *Held
		switch {
		case err == nil:
			renewed = l.cfg.Clock.Now()
		case errors.As(err, &held):
			lost(err)
			return
		case l.cfg.Clock.Now().Sub(renewed) >= 2*l.cfg.Lease/3:
			lost(fmt.Errorf("the cluster's lock could not be renewed for %s and may be taken: %w", l.cfg.Clock.Now().Sub(renewed), err))
			return
		}
	}
}

// Release deletes the lock if it still holds this holder's token. A read
// made less than Lag after this holder's last write that shows no
// parameter or another token may lag: it is read again until Lag has
// passed.
func (l *Lock) Release(ctx context.Context) error {
	for {
		cur, ok, err := l.read(ctx, 0)
		if err != nil {
			return fmt.Errorf("releasing the cluster's lock: %w", err)
		}
		switch {
		case ok && cur.Token == l.token:
			_, err := l.cfg.API.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(l.cfg.Name)})
			if err != nil && !isCode(err, "ParameterNotFound") {
				return fmt.Errorf("releasing the cluster's lock (SSM parameter %s): %w", l.cfg.Name, err)
			}
			return nil
		case l.fresh():
			return nil // gone, or another's written after ours
		}
		if err := clock.Sleep(ctx, l.cfg.Clock, min(l.cfg.Poll, l.cfg.Lag)); err != nil {
			return err
		}
	}
}

func (l *Lock) put(ctx context.Context, overwrite bool) (int64, error) {
	l.wroteAt = l.cfg.Clock.Now()
	out, err := l.cfg.API.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(l.cfg.Name), Value: aws.String(l.encode()),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(overwrite),
		Description: aws.String("stateful: the cluster's lock (docs/operations.md); delete it only when no command runs")})
	if err != nil {
		return 0, err
	}
	return out.Version, nil
}

// read reads the lock (version n; 0 the latest). A version not found is
// read again for up to Lag: versions never change once written, but a
// fresh one may not show yet.
func (l *Lock) read(ctx context.Context, n int64) (current, bool, error) {
	name := l.cfg.Name
	if n > 0 {
		name = fmt.Sprintf("%s:%d", name, n)
	}
	deadline := l.cfg.Clock.Now().Add(l.cfg.Lag)
	for {
		out, err := l.cfg.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		switch {
		case err == nil:
			cur := current{Version: out.Parameter.Version, Modified: aws.ToTime(out.Parameter.LastModifiedDate)}
			if json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &cur.value) != nil || cur.Token == "" {
				cur.Holder = "an unreadable value " + quoteShort(aws.ToString(out.Parameter.Value))
			}
			return cur, true, nil
		case isCode(err, "ParameterNotFound"):
			return current{}, false, nil
		case isCode(err, "ParameterVersionNotFound") && l.cfg.Clock.Now().Before(deadline):
		case isCode(err, "ParameterVersionNotFound"):
			return current{}, false, nil
		default:
			return current{}, false, fmt.Errorf("reading the cluster's lock (SSM parameter %s): %w", l.cfg.Name, err)
		}
		if err := clock.Sleep(ctx, l.cfg.Clock, min(l.cfg.Poll, l.cfg.Lag)); err != nil {
			return current{}, false, err
		}
	}
}

func quoteShort(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// IsNotFound reports a Parameter Store ParameterNotFound.
func IsNotFound(err error) bool { return isCode(err, "ParameterNotFound") }
