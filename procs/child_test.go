package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

// The test binary is also the supervised app: started in a mode below
// (testutil's re-exec protocol), TestMain runs runTestChild instead of the
// tests.

// Test child modes.
const (
	modeHTTP       = "http"        // HTTP server on GRACEVISOR_PORT, tuned by the env below
	modeCrash      = "crash"       // writes to stderr and exits 3 at once
	modeNeverReady = "never-ready" // runs but never listens
	modeSleeper    = "sleeper"     // ignores SIGTERM and sleeps (a spawned grandchild)
)

// Knobs of modeHTTP.
const (
	envCrashFile     = "TEST_CRASH_FILE"     // exit 3 at start if this file exists
	envUnhealthyFile = "TEST_UNHEALTHY_FILE" // /health answers 500 if the file holds our pid
	envIgnoreTerm    = "TEST_IGNORE_TERM"    // "1": ignore SIGTERM
	envChildPIDFile  = "TEST_CHILD_PID_FILE" // spawn a modeSleeper child, write its pid here
	envSpewBytes     = "TEST_SPEW_BYTES"     // write this many bytes of numbered lines first
	envHangFile      = "TEST_HANG_FILE"      // never listen if this file exists
	envGateFile      = "TEST_GATE_FILE"      // listen only once this file exists
)

// lumberjackMill is lumberjack's per-Logger goroutine that never exits (see logFiles).
const lumberjackMill = "gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"

func TestMain(m *testing.M) {
	if mode := testutil.ChildMode(); mode != "" {
		os.Exit(runTestChild(mode))
	}
	// Keep the main thread for the main goroutine, so no test goroutine
	// (the spawner's, in particular) runs locked on it: the runtime never
	// ends the main thread, and TestSpawnerThreadCarriesPdeathsig needs the
	// spawner's thread to end when it closes.
	runtime.LockOSThread()
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(lumberjackMill))
}

func runTestChild(mode string) int {
	switch mode {
	case modeCrash:
		fmt.Fprintln(os.Stderr, "boom")
		return 3
	case modeNeverReady:
		time.Sleep(time.Hour)
		return 0
	case modeSleeper:
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
		return 0
	case modeHTTP:
		return runHTTPChild()
	}
	fmt.Fprintln(os.Stderr, "unknown mode", mode)
	return 2
}

func runHTTPChild() int {
	if f := os.Getenv(envCrashFile); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintln(os.Stderr, "crash file present")
			return 3
		}
	}
	if f := os.Getenv(envHangFile); f != "" {
		if _, err := os.Stat(f); err == nil {
			time.Sleep(time.Hour)
		}
	}
	if f := os.Getenv(envGateFile); f != "" {
		waitForFile(f)
	}
	if os.Getenv(envIgnoreTerm) == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if f := os.Getenv(envChildPIDFile); f != "" {
		if err := spawnSleeper(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if n, _ := strconv.Atoi(os.Getenv(envSpewBytes)); n > 0 {
		spew(n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("GRACEVISOR_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("listening on %s pid %d\n", ln.Addr(), os.Getpid())
	fmt.Fprintln(os.Stderr, "stderr line")
	return serveChild(ln)
}

func serveChild(ln net.Listener) int {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getenv(r.URL.Query().Get("k"))) })
	mux.HandleFunc("/health", childHealth)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) { os.Exit(1) })
	srv := &http.Server{Handler: mux}
	term := make(chan os.Signal, 1)
	// Notify would undo signal.Ignore: an app that ignores SIGTERM must stay deaf to it.
	if os.Getenv(envIgnoreTerm) != "1" {
		signal.Notify(term, syscall.SIGTERM)
	}
	go func() {
		<-term
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print("bye") // a last line without newline must reach the log
	return 0
}

func childHealth(w http.ResponseWriter, r *http.Request) {
	if f := os.Getenv(envUnhealthyFile); f != "" {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// waitForFile polls for path; the test that runs the child creates it.
func waitForFile(path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spawnSleeper(pidFile string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), testutil.ChildEnviron(modeSleeper)...)
	if err := cmd.Start(); err != nil {
		return err
	}
	return os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// spew writes n bytes of numbered 100-byte lines, pausing now and then so
// lumberjack's millisecond backup names stay distinct.
func spew(n int) {
	line := strings.Repeat("x", 89)
	for i := 0; i*100 < n; i++ {
		fmt.Printf("%09d %s\n", i, line)
		if i%2000 == 1999 {
			time.Sleep(3 * time.Millisecond)
		}
	}
}
