package agent

import (
	"errors"
	"fmt"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// ExitConfig is the exit status (sysexits' EX_CONFIG) by which the node
// script's runner says "a configuration error": a function the contract
// requires is missing, or the data volume's owner is still unknown after
// configure_cluster_node. A node script function may exit with it too,
// to say that a relaunch cannot fix what it found.
const ExitConfig = 78

// ConfigError is a failure a relaunch cannot fix: a new instance from the
// same launch-template version reads the same configuration and fails the
// same way (an unknown user, an undecodable node file, a node script
// without a function the contract requires).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// FailureClass says whether a relaunch can fix a bootstrap failure
// (cluster.FailureConfig, cluster.FailureVolume: no; cluster.FailureNode:
// perhaps). The agent decides the launch's fate by it and leaves it on the
// instance (tag cluster.TagBootstrapFailureClass) for status.
func FailureClass(err error) string {
	var ce *ConfigError
	var exit interface{ ExitCode() int }
	switch {
	case errors.As(err, &ce):
		return cluster.FailureConfig
	case errors.Is(err, ErrRefused):
		return cluster.FailureVolume
	case errors.As(err, &exit) && exit.ExitCode() == ExitConfig:
		return cluster.FailureConfig
	}
	return cluster.FailureNode
}
