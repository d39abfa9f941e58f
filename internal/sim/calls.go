package sim

import (
	"context"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// Service names used in Call and Fault.
const (
	ServiceAutoScaling = "autoscaling"
	ServiceEC2         = "ec2"
	ServiceIAM         = "iam"
)

// Call is one API call as the engine saw it.
type Call struct {
	Service   string
	Operation string
	Input     any // the SDK input struct
	At        time.Time
	ErrorCode string // "" on success
}

// Calls returns a copy of every call made so far, oldest first.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CountCalls counts the calls of one operation ("" for all).
func (e *Engine) CountCalls(operation string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if operation == "" || c.Operation == operation {
			n++
		}
	}
	return n
}

// Fault makes matching calls fail or slow down.
type Fault struct {
	Service   string // "" matches both
	Operation string // "" matches every operation
	// Code and Message are the error returned; an empty Code only adds
	// Latency.
	Code, Message string
	// Count fails the next Count matching calls, then the fault is spent.
	// With Probability > 0 instead, each matching call fails with that
	// probability (drawn from the engine's seeded source) for as long as the
	// fault is installed.
	Count       int
	Probability float64
	Latency     time.Duration
}

// Throttle returns the faults that throttle a fraction p of every call with
// the codes AWS really uses: Throttling (HTTP 400) for Auto Scaling and
// RequestLimitExceeded (HTTP 503) for EC2.
func Throttle(p float64) []Fault {
	return []Fault{
		{Service: ServiceAutoScaling, Code: "Throttling", Message: "Rate exceeded", Probability: p},
		{Service: ServiceEC2, Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Probability: p},
	}
}

// AddFaults installs faults; they apply in the order added.
func (e *Engine) AddFaults(fs ...Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range fs {
		f := fs[i]
		e.faults = append(e.faults, &f)
	}
}

// ClearFaults removes every fault.
func (e *Engine) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// begin records a call and applies faults: it returns the index of the call
// record and the injected error, if any, after the injected latency.
func (e *Engine) begin(ctx context.Context, service, op string, input any) (int, error) {
	e.mu.Lock()
	var latency time.Duration
	var injected *APIError
	kept := e.faults[:0]
	for _, f := range e.faults {
		if (f.Service == "" || f.Service == service) && (f.Operation == "" || f.Operation == op) {
			latency += f.Latency
			if f.Code != "" && injected == nil {
				switch {
				case f.Count > 0:
					f.Count--
					injected = apiErr(f.Code, "%s", f.Message)
					if f.Count == 0 {
						continue // spent
					}
				case f.Probability > 0 && e.rng.Float64() < f.Probability:
					injected = apiErr(f.Code, "%s", f.Message)
				}
			}
		}
		kept = append(kept, f)
	}
	e.faults = kept
	c := Call{Service: service, Operation: op, Input: input, At: e.cfg.Clock.Now()}
	if injected != nil {
		c.ErrorCode = injected.Code
	}
	e.calls = append(e.calls, c)
	idx := len(e.calls) - 1
	e.mu.Unlock()
	if latency > 0 {
		_ = clock.Sleep(ctx, e.cfg.Clock, latency)
	}
	if injected != nil {
		return idx, injected
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up before the call reached AWS: record it so.
		e.mu.Lock()
		e.calls[idx].ErrorCode = "RequestCanceled"
		e.mu.Unlock()
		return idx, err
	}
	return idx, nil
}

// run is the frame of every API method: record, inject faults, then run f
// on the locked world and run what it deferred.
func run[I, O any](ctx context.Context, e *Engine, service, op string, in *I, f func(*I) (*O, error)) (*O, error) {
	if in == nil {
		in = new(I)
	}
	idx, err := e.begin(ctx, service, op, in)
	if err != nil {
		return nil, err
	}
	var out *O
	e.Do(func() {
		out, err = f(in)
		if err != nil {
			if a, ok := err.(*APIError); ok {
				e.calls[idx].ErrorCode = a.Code
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
