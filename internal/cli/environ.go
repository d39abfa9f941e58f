package cli

import (
	"context"
	"os"
)

// environKey carries the environment a command runs in, when it is not the
// process's: a command run in-process for another (the system property
// test runs the module's trigger roll, whose settings are STATEFUL_*
// variables, beside other commands at once).
type environKey struct{}

// withEnviron runs the commands under ctx with env as their environment's
// STATEFUL_* settings instead of the process's.
func withEnviron(ctx context.Context, env map[string]string) context.Context {
	return context.WithValue(ctx, environKey{}, env)
}

// lookupEnv reads a setting from the command's environment.
func lookupEnv(ctx context.Context, name string) (string, bool) {
	if ctx == nil {
		return os.LookupEnv(name)
	}
	if env, ok := ctx.Value(environKey{}).(map[string]string); ok {
		v, ok := env[name]
		return v, ok
	}
	return os.LookupEnv(name)
}
