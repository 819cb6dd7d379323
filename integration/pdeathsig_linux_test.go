package integration

import "syscall"

// childAttrs makes the kernel kill a provider when the test binary dies,
// however it dies, so no provider outlives an interrupted run.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
