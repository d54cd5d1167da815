// gracevisor status page: polls /api/v1/status, renders one card per app,
// runs reload/restart/stop/start through the same API as gracevisorctl, and
// follows an app's log. Plain DOM, no framework; every value from the API is
// written with textContent, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "gracevisor.token";
  const POLL_MS = 2000;          // status refresh while the tab is visible
  const HIDDEN_POLL_MS = 10000;  // and while it is not
  const LOG_TAIL = 200;          // lines shown when a log opens
  const LOG_KEEP = 3000;         // lines kept in the view
  const OPS = [
    { op: "reload", label: "reload", doing: "reloading…" },
    { op: "restart", label: "restart", doing: "restarting…", confirm: "confirm restart" },
    { op: "stop", label: "stop", doing: "stopping…", confirm: "confirm stop" },
    { op: "start", label: "start", doing: "starting…" },
  ];

  const $ = (id) => document.getElementById(id);
  const cards = new Map();   // app name -> card elements
  const busy = new Set();    // app names with an operation in flight
  let pollTimer = 0;
  let pollSeq = 0;
  let log = { app: "", stream: "stdout", abort: null };

  // ---- API ----------------------------------------------------------------

  class AuthError extends Error {}

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  async function api(method, path, { signal, raw } = {}) {
    const headers = { Accept: "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    let body;
    if (method === "POST") {
      headers["Content-Type"] = "application/json"; // state changes are POST + JSON only
      body = "{}";
    }
    const resp = await fetch(path, { method, headers, body, signal, cache: "no-store", credentials: "omit" });
    if (resp.status === 401) throw new AuthError(await errorOf(resp));
    if (!resp.ok) throw new Error(await errorOf(resp));
    return raw ? resp : resp.json();
  }

  async function errorOf(resp) {
    try {
      const d = await resp.json();
      if (d && d.error) return d.problems ? d.error + ": " + d.problems.join("; ") : d.error;
    } catch (_) { /* not JSON */ }
    return resp.status + " " + resp.statusText;
  }

  const appPath = (name, op) => "/api/v1/apps/" + encodeURIComponent(name) + (op ? "/" + op : "");

  // ---- polling --------------------------------------------------------------

  async function poll() {
    clearTimeout(pollTimer);
    const seq = ++pollSeq;
    try {
      const apps = await api("GET", "/api/v1/status");
      if (seq !== pollSeq) return; // a newer poll started meanwhile
      setLive("ok", "live · updated " + clock(new Date()));
      $("banner").hidden = true;
      render(apps);
    } catch (e) {
      if (seq !== pollSeq) return; // a newer poll started meanwhile and tells the truth
      if (e instanceof AuthError) { askToken(e.message); return; }
      setLive("down", "disconnected — retrying");
      showBanner("Cannot reach gracevisord: " + e.message);
    }
    pollTimer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  function setLive(state, text) {
    $("conn").dataset.live = state;
    $("conn-text").textContent = text;
  }

  function showBanner(text) {
    $("banner").textContent = text;
    $("banner").hidden = false;
  }

  // ---- token ----------------------------------------------------------------

  // askToken shows the login form. The message says why a token that was
  // sent failed; a later 401 without a token (a poll still in flight) keeps it.
  function askToken(msg) {
    const had = token() !== "";
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(pollTimer); // no polling until a token is given
    pollSeq++;               // and polls in flight are ignored
    stopLog();
    $("apps").hidden = true;
    $("empty").hidden = true;
    $("login").hidden = false;
    $("forget").hidden = true;
    if (had) $("login-error").textContent = msg;
    setLive("connecting", "token required");
    $("token").focus();
  }

  function onLogin(ev) {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token").value = "";
    $("login-error").textContent = "";
    $("login").hidden = true;
    $("apps").hidden = false;
    $("forget").hidden = false;
    start();
  }

  function onForget() {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  }

  // ---- rendering ----------------------------------------------------------

  function render(apps) {
    const seen = new Set();
    for (const a of apps) {
      seen.add(a.name);
      let c = cards.get(a.name);
      if (!c) {
        c = newCard(a.name);
        cards.set(a.name, c);
      }
      $("apps").appendChild(c.root); // keeps the API's order
      fillCard(c, a);
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) { c.root.remove(); cards.delete(name); }
    }
    $("empty").hidden = apps.length > 0;
    renderSummary(apps);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function newCard(name) {
    const root = el("article", "app");
    root.dataset.app = name;
    const head = el("div", "app-head");
    const title = el("h3", "app-name", name);
    const badge = el("span", "badge state");
    const ext = el("span", "ext");
    head.append(title, badge, ext);

    const facts = el("dl", "facts");
    const fact = (label, cls) => {
      const d = el("div");
      const dd = el("dd", cls, "—");
      d.append(el("dt", "", label), dd);
      facts.append(d);
      return dd;
    };
    const pid = fact("pid", "pid");
    const uptime = fact("uptime", "uptime");
    const restarts = fact("restarts", "restarts");
    const conns = fact("connections", "conns");

    const error = el("p", "app-error");
    const wrap = el("div", "inst-wrap");
    const table = el("table", "inst");
    const thead = el("thead");
    const hr = el("tr");
    for (const h of ["slot", "pid", "port", "state", "conns", "uptime"]) hr.append(el("th", "", h));
    thead.append(hr);
    const tbody = el("tbody");
    table.append(thead, tbody);
    wrap.append(table);

    const actions = el("div", "actions");
    const buttons = {};
    for (const o of OPS) {
      const b = el("button", "", o.label);
      b.type = "button";
      b.dataset.op = o.op;
      b.addEventListener("click", () => onOp(name, o, b));
      buttons[o.op] = b;
      actions.append(b);
    }
    const logsBtn = el("button", "", "logs");
    logsBtn.type = "button";
    logsBtn.dataset.op = "logs";
    logsBtn.addEventListener("click", () => openLog(name, "stdout"));
    actions.append(logsBtn);

    const outcome = el("p", "outcome");
    outcome.setAttribute("role", "status");
    root.append(head, facts, error, wrap, actions, outcome);
    return { root, badge, ext, pid, uptime, restarts, conns, error, tbody, buttons, outcome, state: null };
  }

  function fillCard(c, a) {
    c.state = a;
    c.root.dataset.state = a.state;
    c.badge.textContent = a.state;
    c.badge.title = "since " + new Date(a.since).toLocaleString();
    c.ext.textContent = a.external;
    c.ext.title = "external address (clients connect here)";
    const insts = a.instances || [];
    const serving = insts.find((i) => i.state === "SERVING") || insts[0];
    c.pid.textContent = serving ? String(serving.pid) : "—";
    c.uptime.textContent = serving ? since(serving.started_at) : "—";
    c.restarts.textContent = String(a.restarts);
    c.conns.textContent = String(insts.reduce((n, i) => n + i.connections, 0));
    c.error.textContent = a.state !== "RUNNING" && a.error ? a.error : "";

    c.tbody.replaceChildren();
    if (insts.length === 0) {
      const tr = el("tr", "inst-none");
      const td = el("td", "", "no instance");
      td.colSpan = 6;
      tr.append(td);
      c.tbody.append(tr);
    }
    for (const i of insts) {
      const tr = el("tr");
      tr.dataset.state = i.state;
      tr.dataset.pid = String(i.pid);
      const st = el("td");
      st.append(el("span", "badge", i.state));
      st.dataset.state = i.state;
      tr.append(el("td", "", String(i.slot || 0)), el("td", "", String(i.pid)), el("td", "", String(i.port)), st,
        el("td", "", String(i.connections)), el("td", "", since(i.started_at)));
      c.tbody.append(tr);
    }
    const running = busy.has(a.name);
    const enabled = {
      reload: a.state === "RUNNING",
      restart: a.state !== "STARTING",
      stop: a.state !== "STOPPED",
      start: a.state === "STOPPED" || a.state === "FATAL" || a.state === "BACKOFF",
    };
    for (const o of OPS) c.buttons[o.op].disabled = running || !enabled[o.op];
  }

  function renderSummary(apps) {
    const count = (pred) => apps.filter(pred).length;
    const up = count((a) => a.state === "RUNNING" || a.state === "RELOADING");
    const bad = count((a) => a.state === "FATAL" || a.state === "BACKOFF");
    const s = $("summary");
    s.replaceChildren();
    const part = (n, text) => { const b = el("b", "", String(n)); s.append(b, " " + text); };
    part(apps.length, apps.length === 1 ? "app" : "apps");
    s.append(" · ");
    part(up, "serving");
    if (bad > 0) { s.append(" · "); part(bad, "failing"); }
    document.title = (bad > 0 ? "⚠ " : "") + "gracevisor · " + up + "/" + apps.length + " serving";
  }

  // ---- operations ---------------------------------------------------------

  async function onOp(name, o, btn) {
    if (busy.has(name)) return;
    if (o.confirm && btn.dataset.armed !== "1") { // a second click confirms
      btn.dataset.armed = "1";
      btn.classList.add("armed");
      btn.textContent = o.confirm;
      setTimeout(() => disarm(btn, o), 3000);
      return;
    }
    disarm(btn, o);
    const c = cards.get(name);
    if (!c) return; // the app was removed (by an update) since the first click
    const oldPid = c.pid.textContent;
    busy.add(name);
    btn.textContent = o.doing;
    btn.classList.add("running");
    for (const b of Object.values(c.buttons)) b.disabled = true;
    setOutcome(c, "", o.doing);
    let authFailed = false;
    try {
      const res = await api("POST", appPath(name, o.op));
      setOutcome(c, "ok", describe(o.op, res, oldPid));
    } catch (e) {
      authFailed = e instanceof AuthError;
      if (authFailed) askToken(e.message);
      else setOutcome(c, "err", o.op + " failed: " + e.message);
    } finally {
      busy.delete(name);
      btn.textContent = o.label;
      btn.classList.remove("running");
      if (!authFailed) poll(); // after a 401 the login form waits for a token
    }
  }

  function disarm(btn, o) {
    btn.dataset.armed = "";
    btn.classList.remove("armed");
    if (!btn.classList.contains("running")) btn.textContent = o.label;
  }

  function describe(op, res, oldPid) {
    if (op === "reload") {
      return "✓ reloaded: pid " + oldPid + " → " + res.pid + " on port " + res.port +
        ", switched in " + Math.round(res.duration_ms) + " ms";
    }
    const done = { start: "started", stop: "stopped", restart: "restarted" }[op];
    // result is what this call produced; the app object beside it was read
    // afterwards and may already show a concurrent operation's effect.
    if (res.result && res.result.state) {
      return "✓ " + done + ": " + res.result.state + (res.result.pid ? ", pid " + res.result.pid : "");
    }
    const inst = (res.instances || [])[0];
    return "✓ " + done + ": " + res.state + (inst ? ", pid " + inst.pid : "");
  }

  function setOutcome(c, kind, text) {
    c.outcome.className = "outcome " + kind;
    c.outcome.replaceChildren();
    if (!text) return;
    c.outcome.append(el("time", "", clock(new Date())), text);
  }

  // ---- logs -----------------------------------------------------------------

  async function openLog(name, stream) {
    stopLog();
    log = { app: name, stream, abort: new AbortController() };
    const mine = log;
    $("logs").hidden = false;
    $("logs-app").textContent = name;
    for (const b of document.querySelectorAll(".seg button")) {
      b.setAttribute("aria-pressed", String(b.dataset.stream === stream));
    }
    const body = $("logs-body");
    body.textContent = "";
    $("logs-status").textContent = "following " + stream + " …";
    $("logs").scrollIntoView({ behavior: "smooth", block: "nearest" });
    try {
      const q = "?stream=" + stream + "&n=" + LOG_TAIL + "&follow=1";
      const resp = await api("GET", appPath(name, "logs") + q, { signal: mine.abort.signal, raw: true });
      const path = resp.headers.get("X-Log-Path");
      $("logs-status").textContent = "following " + (path || stream);
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        appendLog(dec.decode(value, { stream: true }));
      }
      if (log === mine) $("logs-status").textContent = "stream ended (gracevisord shut down or restarted)";
    } catch (e) {
      if (e.name === "AbortError" || log !== mine) return;
      if (e instanceof AuthError) { askToken(e.message); return; }
      $("logs-status").textContent = "log unavailable: " + e.message;
    }
  }

  function appendLog(text) {
    const body = $("logs-body");
    const atEnd = body.scrollTop + body.clientHeight >= body.scrollHeight - 24;
    body.append(text);
    if (body.childNodes.length > 200) body.normalize(); // one text node again
    const lines = body.textContent.split("\n");
    if (lines.length > LOG_KEEP) body.textContent = lines.slice(-LOG_KEEP).join("\n");
    if ($("logs-scroll").checked && atEnd) body.scrollTop = body.scrollHeight;
  }

  function stopLog() {
    if (log.abort) log.abort.abort();
    log = { app: "", stream: "stdout", abort: null };
  }

  // ---- formatting -----------------------------------------------------------

  function since(ts) {
    const t = Date.parse(ts);
    if (!t || t < 0) return "—";
    let s = Math.max(0, Math.floor((Date.now() - t) / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + s + "s";
    return s + "s";
  }

  const pad = (n) => String(n).padStart(2, "0");
  const clock = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());

  // ---- start ----------------------------------------------------------------

  async function start() {
    poll();
    try {
      const v = await api("GET", "/api/v1/version");
      $("version").textContent = "gracevisord " + v.version + " · " + v.go;
    } catch (_) { /* the poll reports it */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", onLogin);
    $("forget").addEventListener("click", onForget);
    $("forget").hidden = token() === "";
    $("logs-close").addEventListener("click", () => { stopLog(); $("logs").hidden = true; });
    $("logs-clear").addEventListener("click", () => { $("logs-body").textContent = ""; });
    for (const b of document.querySelectorAll(".seg button")) {
      b.addEventListener("click", () => { if (log.app) openLog(log.app, b.dataset.stream); });
    }
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
    start();
  });
})();
