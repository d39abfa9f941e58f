//go:build !linux

package lab

import "errors"

// setns: network namespaces are Linux's. The binary also builds for macOS
// (operators and Terraform runners), where Preflight refuses the lab first.
func setns(int) error { return errors.New("network namespaces need Linux") }
