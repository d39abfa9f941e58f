package lab

import "golang.org/x/sys/unix"

// setns moves the calling thread into the network namespace fd refers to.
func setns(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) }
