// ofelia's web UI: an operations console over the API (docs/api.md).
//
// State is loaded once and then follows the WebSocket (/api/ws): the
// server's jobs.changed events carry every job whose summary moved (status,
// next run, strip), job.* events the executions, log.line the output of the
// execution on screen. Only while the socket is down does the page poll,
// slowly, and it reconnects with backoff. Every view has its URL (#/jobs,
// #/job/NAME, #/execution/ID, #/scheduler), so reload, links and
// back/forward work.
import { api, ApiError, setApiHooks, setToken, token, tokenClaims, h, clear, setUtc, useUtc, zoneName, countdown } from "./lib.js";
import { jobsView } from "./jobs.js";
import { jobView, editView } from "./job.js";
import { executionView } from "./execution.js";
import { schedulerView, loginView } from "./scheduler.js";

const POLL_MS = 30000; // only while the socket is down
const BACKOFF_MS = [1000, 2000, 5000, 10000, 20000, 30000];

// The state the views draw. Views subscribe with on(); every change calls
// the listeners with what changed.
export const state = {
  session: null, // {authEnabled, user, role, canWrite}
  jobs: new Map(), // name -> summary (GET /api/jobs?recent=20)
  jobsLoaded: false,
  scheduler: null,
  live: false, // the socket is up
};

const listeners = new Set();
export function on(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function emit(what) {
  for (const fn of [...listeners]) {
    try { fn(what); } catch (e) { console.error(e); }
  }
}

export function canWrite() {
  return !!(state.session && state.session.canWrite);
}

// ---- notices ----

let noticeTimer = null;
export function notify(text, kind = "info") {
  const el = document.getElementById("notice");
  clear(el, h("span", { text }), h("button", { class: "link", "aria-label": "Dismiss", text: "×", onclick: () => { el.hidden = true; } }));
  el.className = "notice " + kind;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 12000 : 5000);
}

export function report(e) {
  if (e instanceof ApiError && e.status === 401) return; // the login page says it
  notify(e instanceof ApiError ? `${e.message} (${e.code})` : String(e.message || e), "error");
}

// ---- session ----

async function loadSession() {
  try {
    state.session = await api("GET", "/api/session");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    // An ofelia without /api/session: read who we are from the token; the
    // first 401 tells that auth is on.
    const c = token() ? tokenClaims(token()) : null;
    const valid = c && (!c.exp || c.exp * 1000 > Date.now());
    state.session = valid
      ? { authEnabled: true, user: c.sub || null, role: c.role || null, canWrite: c.role === "admin" }
      : c ? { authEnabled: true, user: null, role: null, canWrite: false }
        : { authEnabled: false, user: null, role: null, canWrite: true };
  }
  // A token the server no longer takes (expired, or a user gone).
  if (token() && state.session.authEnabled && !state.session.user) {
    setToken(null);
    loginNotice = "Your session has ended: please log in again.";
  }
}

let loginNotice = null;
function onUnauthorized(hadToken) {
  state.session = { authEnabled: true, user: null, role: null, canWrite: false };
  if (hadToken) loginNotice = "Your session has ended: please log in again.";
  disconnect();
  if (!location.hash.startsWith("#/login")) {
    const next = location.hash && location.hash !== "#/login" ? location.hash : "";
    location.replace("#/login" + (next ? "?next=" + encodeURIComponent(next) : ""));
  }
}

export function takeLoginNotice() {
  const n = loginNotice;
  loginNotice = null;
  return n;
}

export async function loggedIn(t) {
  setToken(t);
  await loadSession();
  scheduleRefresh();
  await start();
}

export function logout() {
  setToken(null);
  disconnect();
  state.jobs.clear();
  state.jobsLoaded = false;
  state.session = { authEnabled: true, user: null, role: null, canWrite: false };
  location.hash = "#/login";
}

// A token is renewed before it runs out, while the page is open.
let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const c = token() ? tokenClaims(token()) : null;
  if (!c || !c.exp) return;
  const left = c.exp * 1000 - Date.now();
  if (left <= 0) return;
  refreshTimer = setTimeout(async () => {
    try {
      const r = await api("POST", "/api/refresh");
      setToken(r.token);
      scheduleRefresh();
    } catch (e) { /* a 401 leads to the login page */ }
  }, Math.max(5000, left * 0.8));
}

// ---- loading and following ----

export async function loadJobs() {
  const data = await api("GET", "/api/jobs?recent=20");
  state.jobs = new Map(data.jobs.map((j) => [j.name, j]));
  state.jobsLoaded = true;
  emit({ jobs: true, all: true });
}

async function loadScheduler() {
  state.scheduler = await api("GET", "/api/scheduler/status");
  emit({ scheduler: true });
}

// resync reads the jobs and the scheduler's state again; calls while one
// is under way share it.
let resyncing = null;
function resync() {
  if (!resyncing) {
    resyncing = Promise.all([loadJobs(), loadScheduler()])
      .then(() => emit({ resync: true }))
      .finally(() => { resyncing = null; });
  }
  return resyncing;
}

let ws = null, wsTries = 0, reconnectTimer = null, pollTimer = null, started = false;

function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return proto + "//" + location.host + "/api/ws" + (token() ? "?token=" + encodeURIComponent(token()) : "");
}

// connect opens the socket; state is (re)loaded once it says "connected",
// so no change between the load and the socket can be missed.
function connect() {
  clearTimeout(reconnectTimer);
  const sock = new WebSocket(wsUrl());
  ws = sock;
  sock.onmessage = (m) => {
    if (ws !== sock) return;
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    handle(ev);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    setLive(false);
    // Nothing loaded yet: read it over HTTP now rather than at the next poll
    // (and learn of a 401 that a refused handshake does not tell).
    if (!state.jobsLoaded && started) resync().catch(report);
    const wait = BACKOFF_MS[Math.min(wsTries, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
    wsTries++;
    reconnectTimer = setTimeout(connect, wait);
  };
}

function disconnect() {
  started = false;
  clearTimeout(reconnectTimer);
  clearInterval(pollTimer);
  pollTimer = null;
  if (ws) {
    const s = ws;
    ws = null;
    s.close();
  }
  setLive(false);
}

function setLive(up) {
  state.live = up;
  const el = document.getElementById("live");
  el.textContent = up ? "live" : started ? "reconnecting…" : "";
  el.className = "live " + (up ? "up" : "down");
  el.title = up ? "Following the server's events" : "The event stream is down: refreshing every 30 s";
  if (up) {
    clearInterval(pollTimer);
    pollTimer = null;
  } else if (started && !pollTimer) {
    pollTimer = setInterval(() => { resync().catch(() => {}); }, POLL_MS);
  }
  emit({ live: up });
}

// subscribe / unsubscribe an execution's log lines.
const subs = new Set();
export function subscribe(id) {
  subs.add(id);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ subscribe: id }));
}
export function unsubscribe(id) {
  subs.delete(id);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ unsubscribe: id }));
}

function handle(ev) {
  const p = ev.payload || {};
  switch (ev.type) {
    case "connected":
      wsTries = 0;
      for (const id of subs) ws.send(JSON.stringify({ subscribe: id }));
      resync().then(() => setLive(true), (e) => { setLive(true); report(e); });
      return;
    case "jobs.changed":
      for (const j of p.jobs || []) state.jobs.set(j.name, j);
      for (const n of p.removed || []) state.jobs.delete(n);
      if (p.scheduler) state.scheduler = p.scheduler;
      emit({ jobs: true, names: (p.jobs || []).map((j) => j.name).concat(p.removed || []), scheduler: !!p.scheduler });
      return;
    case "job.started": {
      const j = state.jobs.get(p.job);
      if (j) {
        j.status = "running";
        j.lastRun = p.startTime;
      }
      emit({ event: ev, jobs: !!j, names: [p.job] });
      return;
    }
    case "scheduler.started":
    case "scheduler.stopped":
      if (state.scheduler) state.scheduler.running = !!p.running;
      emit({ event: ev, scheduler: true });
      return;
    default:
      emit({ event: ev });
  }
}

async function start() {
  if (started) return;
  started = true;
  setLive(false);
  connect();
}

// ---- header and routing ----

function drawHeader() {
  const s = state.session || {};
  const who = document.getElementById("who");
  clear(who);
  if (s.user) who.append(h("span", { class: "muted", text: `${s.user} (${s.role})` }));
  if (s.authEnabled && s.user) who.append(h("button", { class: "secondary", id: "logout", text: "Log out", onclick: logout }));
  const tz = document.getElementById("tz");
  tz.textContent = "Times: " + zoneName();
  tz.setAttribute("aria-pressed", useUtc() ? "true" : "false");
  tz.title = useUtc() ? "Show times in this browser's zone" : "Show times in UTC";
  const sched = document.getElementById("sched-state");
  const st = state.scheduler;
  sched.textContent = st ? (st.running ? "scheduler running" : "scheduler stopped") + ` · ${st.totalJobs} jobs · ${st.runningJobs} running` : "";
  sched.className = "sched " + (st && !st.running ? "stopped" : "");
  for (const a of document.querySelectorAll("nav a")) {
    const scheduler = location.hash.startsWith("#/scheduler");
    const cur = a.getAttribute("href") === "#/scheduler" ? scheduler : !scheduler && !location.hash.startsWith("#/login");
    if (cur) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// route parses the hash: #/jobs?q=x, #/job/NAME, #/job/NAME/edit, #/new,
// #/execution/ID, #/scheduler, #/login?next=...
export function route() {
  const hash = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const seg = path.split("/").filter(Boolean).map((s) => { try { return decodeURIComponent(s); } catch (e) { return s; } });
  return { seg, params, path };
}

let current = null; // {dispose}

async function render() {
  const main = document.getElementById("view");
  const r = route();
  if (current && current.dispose) current.dispose();
  current = null;
  drawHeader();
  if (r.seg[0] === "login") {
    current = loginView(main, r.params);
    return;
  }
  if (state.session && state.session.authEnabled && !state.session.user && !token()) {
    onUnauthorized(false);
    return;
  }
  start();
  const views = {
    jobs: () => jobsView(main, r.params),
    job: () => (r.seg[2] === "edit" ? editView(main, r.seg[1]) : jobView(main, r.seg[1])),
    new: () => editView(main, null),
    execution: () => executionView(main, r.seg[1]),
    scheduler: () => schedulerView(main),
  };
  const make = views[r.seg[0]];
  if (!make) {
    location.replace("#/jobs");
    return;
  }
  current = make();
  window.scrollTo(0, 0);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    if (document.activeElement === document.body || !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
  }
}

// Every second: countdowns, and the header's "N running".
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-countdown]")) {
    const text = countdown(el.dataset.countdown, now);
    if (el.textContent !== text) el.textContent = text;
  }
}

async function boot() {
  setApiHooks(onUnauthorized, (s) => notify(`ofelia is busy: trying again in ${s} s`));
  document.getElementById("tz").addEventListener("click", () => {
    setUtc(!useUtc());
    render();
  });
  on((what) => { if (what.scheduler || what.live || what.resync) drawHeader(); });
  window.addEventListener("hashchange", render);
  setInterval(tick, 1000);
  try {
    await loadSession();
  } catch (e) {
    report(e);
    state.session = { authEnabled: false, user: null, role: null, canWrite: false };
  }
  scheduleRefresh();
  render();
}

boot();
