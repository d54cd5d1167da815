package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// childArg, as the only argument, makes demoapp the child that --spawn-child
// starts. It is not a flag so it does not show in --help.
const childArg = "__demoapp_child__"

// spawnChild starts demoapp again as a child in our process group, with our
// stdout and stderr, the way `cmd &` in a shell script would. We do not stop
// it when we exit: it exists to prove a supervisor kills the whole group.
func spawnChild() (pid int, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("spawn child: %w", err)
	}
	cmd := exec.Command(exe, childArg)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("spawn child: %w", err)
	}
	go reap(cmd)
	return cmd.Process.Pid, nil
}

// reap waits for the child so it does not linger as a zombie while we run.
func reap(cmd *exec.Cmd) { cmd.Wait() }

// runChild is the child's whole life: wait for SIGTERM or SIGINT, exit 0.
// Any other signal (SIGKILL to the group) ends it the default way.
func runChild() int {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	return 0
}
