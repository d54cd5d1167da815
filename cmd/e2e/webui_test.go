package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium. Without it the browser test skips,
// except in CI (CI=true), where a missing browser is a failure: .ci/run
// installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true: .ci/run must `apt-get install -y chromium`")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); skipping the browser test")
	return ""
}

// browser starts headless Chromium with a fresh profile and no network
// besides what the page asks for; cancelling the returned context ends it.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where screenshots go: $WEBUI_SCREENSHOT_DIR, else a
// folder under the temp dir that outlives the test, so the path t.Log
// prints can be opened.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WEBUI_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "gracevisor-webui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// From the top, so the sticky header is where a person sees it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatalf("scroll: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(screenshotDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return strconv.Quote(s) }

// TestWebUI drives the status page in real headless Chromium: it asks for
// the token, lists the demo app, reload changes the pid shown, stop and
// start change the state at a glance, and the log view shows what the app
// printed.
func TestWebUI(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	e.withToken()
	demo := e.newApp("demo", "")
	e.writeConfig(demo)
	e.start()
	pid := e.servingPID("demo")

	step := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			saveScreenshot(t, ctx, "webui-failed.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS polls a JavaScript expression until it is truthy and returns it.
	waitJS := func(what, expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second)))
		if err != nil {
			saveScreenshot(t, ctx, "webui-failed.png")
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return v
	}
	card := `article[data-app="demo"]`
	pidShown := `(document.querySelector('` + card + ` dd.pid') || {}).textContent || ""`

	// The token is asked for once, then the page lists the app.
	step("token prompt", 30*time.Second,
		chromedp.Navigate("http://"+e.rpc+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), e2eToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="RUNNING"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#login")),
	)
	if got := waitJS("the pid", `(`+pidShown+`).match(/^\d+$/) ? `+pidShown+` : ""`); got != strconv.Itoa(pid) {
		t.Fatalf("page shows pid %q, the API says %d", got, pid)
	}
	ext := waitJS("the external address", `document.querySelector('`+card+` .ext').textContent`)
	if ext != demo.addr {
		t.Errorf("external address shown %q, want %q", ext, demo.addr)
	}
	runningColour := waitJS("the state colour", `getComputedStyle(document.querySelector('`+card+`')).borderLeftColor`)

	// Reload: the pid shown changes to the new instance's, and the outcome says so.
	step("click reload", 10*time.Second, chromedp.Click(chromedp.CSS(card+` button[data-op="reload"]`)))
	newPID := waitJS("a new pid", `(() => { const p = `+pidShown+`; return /^\d+$/.test(p) && p !== `+js(strconv.Itoa(pid))+` ? p : ""; })()`)
	if want := strconv.Itoa(e.servingPID("demo")); newPID != want {
		t.Fatalf("page shows pid %s after reload, the API says %s", newPID, want)
	}
	outcome := waitJS("the reload outcome", `(() => { const o = document.querySelector('`+card+` .outcome.ok'); return o ? o.textContent : ""; })()`)
	if !strings.Contains(outcome, fmt.Sprintf("reloaded: pid %d → %s", pid, newPID)) {
		t.Errorf("reload outcome %q", outcome)
	}

	// The log view shows the line the new instance printed at start.
	step("open logs", 10*time.Second, chromedp.Click(chromedp.CSS(card+` button[data-op="logs"]`)))
	line := "demoapp pid=" + newPID + " listening"
	waitJS("the app's line in the log view", `document.querySelector('#logs-body').textContent.includes(`+js(line)+`) ? "yes" : ""`)
	saveScreenshot(t, ctx, "webui.png")

	// Stop needs a second click to confirm; the state and its colour change.
	stop := card + ` button[data-op="stop"]`
	step("stop", 10*time.Second, chromedp.Click(chromedp.CSS(stop)), chromedp.Click(chromedp.CSS(stop)))
	waitJS("STOPPED", `document.querySelector('`+card+`[data-state="STOPPED"] .badge.state') ? "yes" : ""`)
	if c := waitJS("the stopped colour", `getComputedStyle(document.querySelector('`+card+`')).borderLeftColor`); c == runningColour {
		t.Errorf("STOPPED has the same colour as RUNNING (%s)", c)
	}
	step("start", 10*time.Second, chromedp.Click(chromedp.CSS(card+` button[data-op="start"]`)))
	waitJS("RUNNING again", `document.querySelector('`+card+`[data-state="RUNNING"]') ? "yes" : ""`)

	// Phone width: nothing sticks out sideways.
	step("phone viewport", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	waitJS("the layout at phone width", `document.documentElement.scrollWidth <= window.innerWidth ? "fits" : ""`)
	saveScreenshot(t, ctx, "webui-phone.png")

	evalJS := func(what, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Evaluate[any](expr)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// An app removed by an update between the two clicks of a confirm: the
	// second click does nothing, and the app is not left busy (buttons
	// disabled) once it is back. The first click is stood in for by arming
	// the held button: the confirm lasts 3 s, less than a removal takes.
	evalJS("hold the stop button", `window.heldStop = document.querySelector('`+stop+`'); 1`)
	e.writeConfig()
	e.mustCtl(0, "update")
	waitJS("the card gone", `document.querySelector('`+card+`') ? "" : "gone"`)
	evalJS("confirm on the removed card", `heldStop.dataset.armed = "1"; heldStop.click(); 1`)
	e.writeConfig(demo)
	e.mustCtl(0, "update")
	waitJS("the app back with reload enabled", `(() => { const b = document.querySelector('`+card+`[data-state="RUNNING"] button[data-op="reload"]'); return b && !b.disabled ? "yes" : ""; })()`)

	// A button refused with 401 shows the login form with the reason, and
	// it stays there: no poll afterwards asks again and clears it.
	evalJS("spoil the token", `sessionStorage.setItem("gracevisor.token", "wrong-wrong-wrong-wrong"); 1`)
	step("reload with a wrong token", 10*time.Second, chromedp.Click(chromedp.CSS(card+` button[data-op="reload"]`)))
	loginMsg := `(() => { const l = document.querySelector('#login'); return l.hidden ? "" : document.querySelector('#login-error').textContent; })()`
	if msg := waitJS("the wrong-token message", loginMsg); !strings.Contains(msg, "wrong token") {
		t.Fatalf("login message %q, want wrong token", msg)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) { // > 2 polls
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](loginMsg))
		if err != nil || !strings.Contains(v, "wrong token") {
			saveScreenshot(t, ctx, "webui-failed.png")
			t.Fatalf("the wrong-token message went away: %q %v", v, err)
		}
	}
}
