//go:build !linux

package integration

import "syscall"

// childAttrs has nothing to add outside Linux: TestMain stops the
// providers, but one may outlive a test binary that is killed.
func childAttrs() *syscall.SysProcAttr { return nil }
