package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudflare/tableflip"
)

// statusFile names the pipe a child reports its steps on.
const statusFile = "gracevisor-upgrade-status"

// Errors of Upgrade that say why no successor was started.
var (
	// ErrInProgress: another upgrade runs.
	ErrInProgress = errors.New("upgrade already in progress")
	// ErrPreviousDraining: the daemon this one replaced has not exited yet
	// (see WaitForParent).
	ErrPreviousDraining = errors.New("the previous daemon is still draining")
	// ErrNotServing: this daemon has not called Ready yet.
	ErrNotServing = errors.New("gracevisord is still starting")
)

// An Upgrader is one daemon's side of upgrades: as a child (HasParent) it
// reports to its parent; as the serving daemon it starts its successor.
// Its methods are safe for concurrent use.
type Upgrader struct {
	tf      *tableflip.Upgrader
	timeout time.Duration

	report *reporter // to the parent; nil in a first daemon

	mu        sync.Mutex // guards upgrading
	upgrading bool

	// ready: this daemon serves (Ready was called); exit (tableflip's Exit)
	// is closed once a successor took over (or Stop). Together they say
	// whether closing a listener must also stop tableflip's copy listening
	// (see ownedListener).
	ready atomic.Bool
	exit  <-chan struct{}
}

// serving reports whether this daemon is the one that owns its listeners:
// ready, and not replaced (nor stopping, when tableflip closes its copies
// itself).
func (u *Upgrader) serving() bool {
	select {
	case <-u.exit:
		return false
	default:
		return u.ready.Load()
	}
}

// New sets up upgrades for this process. timeout bounds how long a
// successor may take to become ready before it is killed; pidFile, if not
// empty, gets this process's pid once it is Ready. Call it once, before any
// listener is made.
func New(timeout time.Duration, pidFile string) (*Upgrader, error) {
	tf, err := tableflip.New(tableflip.Options{UpgradeTimeout: timeout, PIDFile: pidFile})
	if err != nil {
		return nil, fmt.Errorf("set up upgrades: %w", err)
	}
	u := &Upgrader{tf: tf, timeout: timeout, exit: tf.Exit()}
	if tf.HasParent() {
		f, err := tf.File(statusFile)
		if err != nil {
			return nil, fmt.Errorf("open the upgrade status pipe: %w", err)
		}
		u.report = newReporter(f) // nil if the parent passed none
	}
	return u, nil
}

// HasParent reports whether this daemon was started by an upgrade.
func (u *Upgrader) HasParent() bool { return u.tf.HasParent() }

// StartedByUpgrade reports, before New, whether this process was started
// by an upgrade (tableflip marks its children with this variable), so a
// first daemon can set up upgrades only once it knows it will run.
func StartedByUpgrade() bool { return os.Getenv("TABLEFLIP_HAS_PARENT_7DIU3") != "" }

// Listen returns the listener for network and addr inherited from the
// parent, or one made by listen. Every listener made here is handed to a
// successor. A TCP listener's Close also stops the socket listening while
// this daemon is the serving one (see ownedListener).
//
// Listeners are handed over by address, and a TCP address is keyed the way
// it resolves (localhost:8080 and 127.0.0.1:8080 are one key), so a config
// that writes the same address differently still takes over the socket
// instead of binding the busy port anew. A listener that a daemon from
// before this rule handed over under the config's own spelling is found
// under that too.
func (u *Upgrader) Listen(network, addr string, listen func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	if network != "tcp" {
		return u.tf.ListenWithCallback(network, addr, listen)
	}
	key := listenKey(network, addr)
	ln, err := u.tf.Listener(network, addr) // an older daemon's key
	if err == nil && ln == nil {
		ln, err = u.tf.ListenWithCallback(network, key, listen)
	}
	if err != nil {
		return nil, err
	}
	return &ownedListener{Listener: ln, u: u}, nil
}

// listenKey is the address a listener for addr is handed over under: the
// address it resolves to, or addr itself when it does not resolve.
func listenKey(network, addr string) string {
	a, err := net.ResolveTCPAddr(network, addr)
	if err != nil {
		return addr
	}
	return a.String()
}

// Progress reports a step of this daemon's start to the parent that is
// upgrading to it; without a parent it does nothing.
func (u *Upgrader) Progress(s Step) { u.report.send(s) }

// Failed reports why this daemon could not take over to its parent, which
// passes it on as the upgrade's error. The daemon should exit then.
func (u *Upgrader) Failed(err error) {
	u.report.send(Step{Kind: StepFailed, Detail: err.Error()})
	u.report.close()
}

// Ready tells the parent that this daemon serves: the parent's Upgrade
// returns nil, and inherited listeners this daemon did not take are closed.
func (u *Upgrader) Ready() error {
	u.report.send(Step{Kind: StepReady, PID: os.Getpid()})
	u.report.close()
	u.ready.Store(true)
	if err := u.tf.Ready(); err != nil {
		return fmt.Errorf("tell the previous daemon we are ready: %w", err)
	}
	return nil
}

// WaitForParent blocks until the daemon this one replaced has exited.
func (u *Upgrader) WaitForParent(ctx context.Context) error { return u.tf.WaitForParent(ctx) }

// Exit is closed once a successor has taken over (or Stop was called).
func (u *Upgrader) Exit() <-chan struct{} { return u.tf.Exit() }

// Stop prevents further upgrades; call it when the daemon shuts down.
func (u *Upgrader) Stop() { u.tf.Stop() }

// Upgrade starts a successor and blocks until it is ready (nil) or has
// failed (its own error when it said why). Each step the successor reports
// is passed to onStep, from one goroutine, as it happens.
func (u *Upgrader) Upgrade(onStep func(Step)) error {
	if !u.begin() {
		return ErrInProgress
	}
	defer u.end()
	r, err := u.statusPipe()
	if err != nil {
		return err
	}
	defer r.Close()
	steps := make(chan error, 1)
	go relaySteps(r, onStep, steps)
	err = u.tfUpgrade()
	// Every step is in the pipe by now: the successor writes its last one
	// (ready or failed) before it tells tableflip, or it is gone. A
	// deadline ends the reading if it died without a last step.
	wait := relayGrace
	if err != nil {
		wait = failureGrace
	}
	r.SetReadDeadline(time.Now().Add(wait))
	why := <-steps
	switch {
	case err == nil:
		return nil
	case why != nil:
		return why
	}
	return tableflipError(err, u.timeout)
}

// tableflipError names tableflip's refusals (it has no sentinel errors)
// and says its failures about the successor in one plain line.
func tableflipError(err error, timeout time.Duration) error {
	msg := err.Error()
	switch {
	case msg == "process is not ready yet":
		return ErrNotServing
	case msg == "parent hasn't exited":
		return ErrPreviousDraining
	case msg == "upgrade in progress":
		return ErrInProgress
	case strings.HasPrefix(msg, "new child ") && strings.HasSuffix(msg, " timed out"):
		return fmt.Errorf("the new daemon (%s) was not ready within %s and was killed",
			strings.TrimSuffix(strings.TrimPrefix(msg, "new child "), " timed out"), timeout)
	case strings.HasPrefix(msg, "can't start child: "):
		return fmt.Errorf("the new daemon did not start: %s", strings.TrimPrefix(msg, "can't start child: "))
	case strings.HasPrefix(msg, "child "):
		return fmt.Errorf("the new daemon (%s", strings.Replace(strings.TrimPrefix(msg, "child "), " exited", ") exited", 1))
	}
	return fmt.Errorf("the new daemon: %s", msg)
}

// How long Upgrade reads the successor's last steps once tableflip has
// answered.
const (
	relayGrace   = time.Second
	failureGrace = 200 * time.Millisecond
)

func (u *Upgrader) begin() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.upgrading {
		return false
	}
	u.upgrading = true
	return true
}

func (u *Upgrader) end() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.upgrading = false
}

// statusPipe makes a fresh pipe for the successor's steps and hands its
// write end to the successor; the caller reads the other end.
func (u *Upgrader) statusPipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("upgrade status pipe: %w", err)
	}
	defer w.Close() // AddFile keeps a copy for the successor
	if err := u.tf.AddFile(statusFile, w); err != nil {
		r.Close()
		return nil, fmt.Errorf("upgrade status pipe: %w", err)
	}
	return r, nil
}

// tfUpgrade is tableflip's Upgrade. Right after Ready, tableflip's loop may
// take the upgrade request before it has noticed the readiness (it selects
// among both at random) and refuse with "not ready yet": once this daemon
// has called Ready that refusal is stale, so the request is made again —
// each retry halves the odds, and the loop notices within a few.
func (u *Upgrader) tfUpgrade() error {
	err := u.tf.Upgrade()
	for i := 0; i < staleRefusalRetries && err != nil && u.ready.Load() && errors.Is(tableflipError(err, 0), ErrNotServing); i++ {
		err = u.tf.Upgrade()
	}
	return err
}

// staleRefusalRetries bounds tfUpgrade's retries (2^-20 odds of a stale
// refusal surviving them).
const staleRefusalRetries = 20
