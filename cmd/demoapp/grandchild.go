package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// detachArg and grandchildArg, with an address, make demoapp the middle
// process and the grandchild of --grandchild. Not flags, so they do not
// show in --help.
const (
	detachArg     = "__demoapp_detach__"
	grandchildArg = "__demoapp_grandchild__"
)

// spawnGrandchild double-forks the way a daemonizing helper does: a child
// starts the grandchild in a new session (outside our process group) and
// exits at once, so the grandchild is nobody's child of ours. It exists
// to prove a supervisor kills what its process-group kill cannot reach.
func spawnGrandchild(addr string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("grandchild: %w", err)
	}
	cmd := exec.Command(exe, detachArg, addr)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("grandchild: %w", err)
	}
	return nil
}

// runDetach is the middle process: start the grandchild, exit.
func runDetach(addr string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoapp detach:", err)
		return 1
	}
	cmd := exec.Command(exe, grandchildArg, addr)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "demoapp detach:", err)
		return 1
	}
	return 0
}

// runGrandchild holds addr and ignores every polite signal: only SIGKILL ends it.
func runGrandchild(addr string) int {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoapp grandchild:", err)
		return 1
	}
	fmt.Printf("demoapp grandchild pid=%d listening on %s\n", os.Getpid(), ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		c.Close()
	}
}
