// Package lock keeps two operators' commands from taking nodes of one
// cluster out at once: `stateful roll` and `stateful recover --replace` hold
// a cluster lock while they may terminate instances.
//
// AWS offers no lock service to an ASG-based cluster, so the lock is a tag
// on the cluster's first group (in node-id order), written with
// CreateOrUpdateTags and read back. Its value names the holder, a random
// token and an expiry. What it guarantees, and what it does not:
//
//   - A command started while another holds an unexpired lock refuses, naming
//     the holder and when the lock expires.
//   - Two commands that write the tag within a moment of each other: the
//     later write wins, and the earlier writer sees the later value when it
//     reads the tag back, and refuses. Tags are eventually consistent and
//     AWS does not say for how long. If no read lags its writes by more
//     than a quarter of the settle delay S (--lock-settle, default 2 s),
//     one holder at most proceeds: each writer reads its own token back at
//     least S after its write, and gives up (and takes its write back) when
//     its write came back more than S/2 after its first read. For two to
//     proceed, the later writer's write must land unseen by the earlier
//     one's read-back (later than its write + S - S/4) while its own first
//     read missed that write (made before it + S/4): more than S/2 from
//     read to write. A longer lag can let two writers proceed. A read that
//     shows no tag, or the value from before the write, is read again (it
//     may be stale), up to 15 times.
//   - A holder releases its lock with a value-conditional DeleteTags, which
//     never deletes another holder's value; a command that gives up while
//     taking the lock (an answer lost, Ctrl-C) releases it the same way.
//   - A holder renews the lock at a third of its TTL and checks on each
//     renewal that it still holds it; it stops when it does not.
//   - A holder that dies leaves the lock until it expires (TTL after its
//     last renewal, default 10 minutes); --break-lock removes it at once.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/termtext"
)

// TagKey is the tag that holds the lock.
const TagKey = "stateful:lock"

// API is what the lock calls.
type API interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	CreateOrUpdateTags(context.Context, *autoscaling.CreateOrUpdateTagsInput, ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error)
	DeleteTags(context.Context, *autoscaling.DeleteTagsInput, ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error)
}

var _ API = awsapi.AutoScaling(nil)

// Config sets up a lock.
type Config struct {
	API   API
	Clock clock.Clock
	// Group holds the tag: the cluster's first group in node-id order.
	Group string
	// Holder says who holds it, for the other side's message
	// ("stateful roll by alice@laptop, pid 4242").
	Holder string
	// TTL is how long the lock lasts after each renewal (default 10m);
	// Settle how long to wait before reading a write back (default 2s).
	TTL, Settle time.Duration
}

// DefaultSettle is how long a writer waits before it reads its write back.
const DefaultSettle = 2 * time.Second

// Lock is a held lock.
type Lock struct {
	cfg       Config
	value     string // what this holder last wrote, with success
	attempted string // what it last tried to write (its answer may be lost)
	token     string
	// before is the token the tag held before this holder wrote it (""
	// none): a read that still shows it, or no tag at all, may be a stale
	// read of the time before the write.
	before string
}

// Held is the refusal when another holder has the lock.
type Held struct {
	Holder  string
	Expires time.Time
	Group   string
}

func (h *Held) Error() string {
	if h.Expires.IsZero() {
		return fmt.Sprintf("the cluster's lock (tag %s on group %s) is no longer held by this command: %s", TagKey, h.Group, termtext.Escape(h.Holder))
	}
	return fmt.Sprintf("another command holds the cluster's lock (tag %s on group %s): %s, until %s; if it is dead, pass --break-lock",
		TagKey, h.Group, termtext.Escape(h.Holder), h.Expires.UTC().Format(time.RFC3339))
}

// value is what the tag holds: token, expiry, holder (at most 256
// characters, the tag value limit).
type value struct {
	Token   string
	Expires time.Time
	Holder  string
}

func (v value) String() string {
	s := v.Token + " " + v.Expires.UTC().Format(time.RFC3339) + " " + v.Holder
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

func parse(s string) (value, bool) {
	parts := strings.SplitN(s, " ", 3)
	if len(parts) < 2 {
		return value{}, false
	}
	t, err := time.Parse(time.RFC3339, parts[1])
	if err != nil {
		return value{}, false
	}
	v := value{Token: parts[0], Expires: t}
	if len(parts) == 3 {
		v.Holder = parts[2]
	}
	return v, true
}

func (c *Config) defaults() error {
	if c.API == nil || c.Clock == nil || c.Group == "" {
		return errors.New("lock: API, Clock and Group are required")
	}
	if c.TTL <= 0 {
		c.TTL = 10 * time.Minute
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	return nil
}

// Acquire takes the lock, or returns a *Held naming its holder. With
// breakLock it first removes a lock someone else holds.
func Acquire(ctx context.Context, cfg Config, breakLock bool) (*Lock, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		l, err := acquire(ctx, cfg, breakLock)
		if !errors.Is(err, errSlow) || attempt == slowAttempts {
			return l, err
		}
	}
}

// errSlow is an acquire whose write came back more than Settle/2 after its
// first read: a rival's write could land unseen by both (package comment).
var errSlow = errors.New("AWS answered too slowly to take the cluster's lock safely")

// slowAttempts bounds the acquires tried again after errSlow.
const slowAttempts = 5

func acquire(ctx context.Context, cfg Config, breakLock bool) (*Lock, error) {
	start := cfg.Clock.Now()
	cur, ok, err := read(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if ok && cfg.Clock.Now().Before(cur.Expires) && !breakLock {
		return nil, &Held{Holder: cur.Holder, Expires: cur.Expires, Group: cfg.Group}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	l := &Lock{cfg: cfg, token: hex.EncodeToString(b)}
	if ok {
		l.before = cur.Token
	}
	err = l.write(ctx)
	if took := cfg.Clock.Now().Sub(start); err == nil && took > cfg.Settle/2 {
		err = fmt.Errorf("%w (%s from reading the lock to writing it, more than half of --lock-settle %s)", errSlow, took.Round(time.Millisecond), cfg.Settle)
	}
	if err == nil {
		err = clock.Sleep(ctx, cfg.Clock, cfg.Settle)
	}
	if err == nil {
		err = l.check(ctx, staleReads)
	}
	if err != nil {
		var held *Held
		if !errors.As(err, &held) {
			// The write may have taken effect though its answer was lost
			// (or the command was stopped, or it was too slow): take it
			// back, so that no dead holder blocks the next command.
			if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil {
				return nil, &NotReleased{Err: err, Release: rerr}
			}
		}
		return nil, err
	}
	return l, nil
}

// NotReleased is a failed acquire whose write may have landed and could
// not be taken back: the lock may stay until it lapses (the TTL).
type NotReleased struct{ Err, Release error }

func (e *NotReleased) Error() string {
	return fmt.Sprintf("%v (and the lock it may have written could not be taken back: %v)", e.Err, e.Release)
}
func (e *NotReleased) Unwrap() error { return e.Err }

// Renew extends the lock, after checking it is still this holder's.
func (l *Lock) Renew(ctx context.Context) error {
	if err := l.check(ctx, 1); err != nil {
		return err
	}
	return l.write(ctx)
}

// Hold renews the lock at a third of its TTL until ctx ends, and calls lost
// once (and stops) when it is no longer this holder's, or when renewals
// have failed for two thirds of the TTL: the lock could lapse before the
// next one, and another command could take it while this one still works.
func (l *Lock) Hold(ctx context.Context, lost func(error)) {
	renewed := l.cfg.Clock.Now()
	for clock.Sleep(ctx, l.cfg.Clock, l.cfg.TTL/3) == nil {
		err := l.Renew(ctx)
		var held *Held
		switch {
		case err == nil:
			renewed = l.cfg.Clock.Now()
		case errors.As(err, &held):
			lost(err)
			return
		case l.cfg.Clock.Now().Sub(renewed) >= 2*l.cfg.TTL/3:
			lost(fmt.Errorf("the cluster's lock could not be renewed for %s and may lapse: %w", l.cfg.Clock.Now().Sub(renewed), err))
			return
		}
	}
}

// Release removes the lock if it still holds a value this holder wrote.
// No read is needed: Auto Scaling's DeleteTags deletes a tag given with a
// value only when the value matches ("If you specify a value and the value
// is incorrect, the tag is not deleted", the Auto Scaling user guide), so
// another holder's lock is never deleted, and a stale read cannot mislead.
// Every value this holder may have written is tried: the last one whose
// write succeeded, and the last one attempted (its answer may have been
// lost).
func (l *Lock) Release(ctx context.Context) error {
	values := []string{l.attempted}
	if l.value != "" && l.value != l.attempted {
		values = append(values, l.value)
	}
	tags := make([]astypes.Tag, len(values))
	for k, v := range values {
		tags[k] = l.tag(v)
	}
	for _, t := range tags {
		if _, err := l.cfg.API.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{t}}); err != nil {
			return fmt.Errorf("releasing the cluster lock on group %s: %w", l.cfg.Group, err)
		}
	}
	return nil
}

func (l *Lock) tag(v string) astypes.Tag {
	return astypes.Tag{ResourceId: aws.String(l.cfg.Group), ResourceType: aws.String("auto-scaling-group"),
		Key: aws.String(TagKey), Value: aws.String(v), PropagateAtLaunch: aws.Bool(false)}
}

func (l *Lock) write(ctx context.Context) error {
	l.attempted = value{Token: l.token, Expires: l.cfg.Clock.Now().Add(l.cfg.TTL), Holder: l.cfg.Holder}.String()
	if _, err := l.cfg.API.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{l.tag(l.attempted)}}); err != nil {
		return fmt.Errorf("writing the cluster lock on group %s: %w", l.cfg.Group, err)
	}
	l.value = l.attempted
	return nil
}

// check reads the tag back: it must carry this holder's token. Auto
// Scaling's reads are eventually consistent, so right after this holder's
// write a read that shows no tag, or the value from before the write,
// proves nothing: it is read again every Settle, up to reads times.
// Another holder's new token is an answer at once.
func (l *Lock) check(ctx context.Context, reads int) error {
	for n := 1; ; n++ {
		cur, ok, err := read(ctx, l.cfg)
		if err != nil {
			return err
		}
		switch {
		case ok && cur.Token == l.token:
			return nil
		case ok && cur.Token != l.before:
			return &Held{Holder: cur.Holder, Expires: cur.Expires, Group: l.cfg.Group}
		case n >= reads && !ok:
			return &Held{Holder: "nobody (the lock was removed, by --break-lock?)", Group: l.cfg.Group}
		case n >= reads:
			return &Held{Holder: cur.Holder, Expires: cur.Expires, Group: l.cfg.Group}
		}
		if err := clock.Sleep(ctx, l.cfg.Clock, l.cfg.Settle); err != nil {
			return err
		}
	}
}

// staleReads bounds how often check reads a tag that may be stale: 15
// reads, 30 s with the default Settle, far beyond the seconds AWS's
// eventual consistency takes in practice.
const staleReads = 15

func read(ctx context.Context, cfg Config) (value, bool, error) {
	out, err := cfg.API.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{cfg.Group}})
	if err != nil {
		return value{}, false, fmt.Errorf("reading the cluster lock on group %s: %w", cfg.Group, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return value{}, false, fmt.Errorf("reading the cluster lock: group %s not found", cfg.Group)
	}
	for _, t := range out.AutoScalingGroups[0].Tags {
		if aws.ToString(t.Key) == TagKey {
			v, ok := parse(aws.ToString(t.Value))
			return v, ok, nil
		}
	}
	return value{}, false, nil
}
