package ldaptest

import (
	"os/exec"
	"syscall"
)

func killOnParentExit(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
