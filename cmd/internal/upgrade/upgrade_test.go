package upgrade

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary re-executes itself as the successor (tableflip starts
// os.Args[0] with the same arguments); childEnv tells it what to be.
const childEnv = "GRACEVISOR_UPGRADE_TEST_CHILD"

// The key both generations use for the shared listener.
const listenAddr = "127.0.0.1:0"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	goleak.VerifyTestMain(m)
}

// child is the successor: it reports and behaves as mode says.
func child(mode string) int {
	u, err := New(time.Minute, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	u.Progress(Step{Kind: StepStarted, PID: os.Getpid(), Version: "test-2"})
	switch mode {
	case "fail":
		u.Failed(errors.New("config: apps[0].name: a bad thing"))
		return 1
	case "crash":
		return 3
	case "hang":
		select {}
	}
	ln, err := u.Listen("tcp", listenAddr, net.Listen)
	if err != nil {
		u.Failed(err)
		return 1
	}
	go serveName(ln, fmt.Sprintf("child %d", os.Getpid()))
	u.Progress(Step{Kind: StepAppReady, App: "demo"})
	if err := u.Ready(); err != nil {
		return 1
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
	return 0
}

// serveName answers every connection with name and closes it.
func serveName(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintln(c, name)
		c.Close()
	}
}

func nameAt(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// steps records what a successor reported.
type steps struct {
	mu   sync.Mutex
	list []Step
	seen chan Step
}

func newSteps() *steps { return &steps{seen: make(chan Step, 16)} }

func (s *steps) add(st Step) {
	s.mu.Lock()
	s.list = append(s.list, st)
	s.mu.Unlock()
	s.seen <- st
}

func (s *steps) kinds() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k []string
	for _, st := range s.list {
		k = append(k, st.Kind)
	}
	return strings.Join(k, ",")
}

func gone(pid int) bool { return syscall.Kill(pid, 0) != nil }

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUpgrade runs every failure first, then the one upgrade that
// succeeds: tableflip allows one Upgrader per process, and none after a
// successful upgrade.
func TestUpgrade(t *testing.T) {
	u, err := New(3*time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Stop()
	ln, err := u.Listen("tcp", listenAddr, net.Listen)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go serveName(ln, "parent")
	if err := u.Ready(); err != nil {
		t.Fatal(err)
	}

	t.Run("the successor's own error", func(t *testing.T) {
		t.Setenv(childEnv, "fail")
		st := newSteps()
		err := u.Upgrade(st.add)
		if err == nil || err.Error() != "config: apps[0].name: a bad thing" {
			t.Fatalf("Upgrade = %v, want the child's error", err)
		}
		if k := st.kinds(); k != "started,failed" {
			t.Fatalf("steps %s", k)
		}
		if got := nameAt(t, addr); got != "parent" {
			t.Fatalf("served by %q after a failed upgrade", got)
		}
	})
	t.Run("a crashing successor", func(t *testing.T) {
		t.Setenv(childEnv, "crash")
		err := u.Upgrade(nil)
		if err == nil || !strings.Contains(err.Error(), "exited") {
			t.Fatalf("Upgrade = %v, want the child's exit", err)
		}
	})
	t.Run("a hanging successor is killed; one upgrade at a time", func(t *testing.T) {
		t.Setenv(childEnv, "hang")
		st := newSteps()
		done := make(chan error, 1)
		go func() { done <- u.Upgrade(st.add) }()
		var started Step
		select {
		case started = <-st.seen:
		case err := <-done:
			t.Fatalf("Upgrade = %v before the child reported", err)
		}
		if err := u.Upgrade(nil); !errors.Is(err, ErrInProgress) {
			t.Fatalf("second Upgrade = %v, want ErrInProgress", err)
		}
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "was not ready within 3s and was killed") {
			t.Fatalf("Upgrade = %v, want a timeout", err)
		}
		waitGone(t, started.PID)
	})
	t.Run("success", func(t *testing.T) {
		t.Setenv(childEnv, "serve")
		st := newSteps()
		if err := u.Upgrade(st.add); err != nil {
			t.Fatal(err)
		}
		if k := st.kinds(); k != "started,app_ready,ready" {
			t.Fatalf("steps %s", k)
		}
		pid := st.list[0].PID
		defer waitGone(t, pid)
		defer syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-u.Exit():
		case <-time.After(5 * time.Second):
			t.Fatal("Exit not closed after a successful upgrade")
		}
		ln.Close() // the parent stops accepting; the socket lives on in the child
		if got, want := nameAt(t, addr), fmt.Sprintf("child %d", pid); got != want {
			t.Fatalf("served by %q, want %q", got, want)
		}
	})
}

// TestOwnedListenerClose: tableflip keeps a copy of every listener. Closing
// one while serving stops the socket listening for every copy (the port
// refuses and can be bound again); closing one while taking over or after
// handing over leaves the socket to the other daemon.
func TestOwnedListenerClose(t *testing.T) {
	for _, tc := range []struct {
		name              string
		ready, handedOver bool
		wantRefused       bool
	}{
		{"serving", true, false, true},
		{"taking over", false, false, false},
		{"handed over", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			copy, err := ln.(*net.TCPListener).File() // what tableflip keeps
			if err != nil {
				t.Fatal(err)
			}
			defer copy.Close()
			exit := make(chan struct{})
			if tc.handedOver {
				close(exit)
			}
			u := &Upgrader{exit: exit}
			u.ready.Store(tc.ready)
			owned := &ownedListener{Listener: ln, u: u}
			addr := ln.Addr().String()
			owned.Close()
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			if refused := err != nil; refused != tc.wantRefused {
				t.Fatalf("dial after Close: %v; want refused %v", err, tc.wantRefused)
			}
		})
	}
}
