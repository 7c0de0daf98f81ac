// ofelia's web UI: a plain page over the API (docs/api.md). Jobs with their
// next and last runs, a job's history, an execution's logs, run / stop /
// toggle, and a login form when the API asks for one. It refreshes on
// WebSocket events and every few seconds.
"use strict";

const state = { token: sessionStorage.getItem("ofelia-token"), job: null, execution: null, before: null, ws: null };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  if (res.status === 401 && path !== "/api/login") {
    showLogin();
    throw new Error("Please log in");
  }
  if (!res.ok) throw new Error(data && data.error ? data.error.code + ": " + data.error.message : res.statusText);
  return data;
}

function showError(e) {
  $("error").textContent = e ? String(e.message || e) : "";
  $("error").hidden = !e;
}

function time(t) {
  return t ? new Date(t).toLocaleString() : "—";
}

function duration(ns) {
  if (ns === null || ns === undefined) return "—";
  const s = ns / 1e9;
  return s < 1 ? Math.round(s * 1000) + " ms" : s < 120 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min";
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (cls) td.className = cls;
  return td;
}

function button(td, label, onclick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", () => onclick().catch(showError));
  td.appendChild(b);
}

function link(td, text, onclick) {
  const a = document.createElement("a");
  a.textContent = text;
  a.addEventListener("click", () => onclick().catch(showError));
  td.appendChild(a);
}

function showLogin() {
  state.token = null;
  sessionStorage.removeItem("ofelia-token");
  for (const id of ["jobs", "job", "logs", "logout", "scheduler-toggle"]) $(id).hidden = true;
  $("login").hidden = false;
}

async function loadScheduler() {
  const s = await api("GET", "/api/scheduler/status");
  const next = s.nextJob ? ", next: " + s.nextJob.name + " at " + time(s.nextJob.scheduledTime) : "";
  $("scheduler").textContent = (s.running ? "running" : "stopped") + ", " + s.totalJobs + " jobs, " + s.runningJobs + " running" + next;
  const t = $("scheduler-toggle");
  t.textContent = s.running ? "Stop scheduler" : "Start scheduler";
  t.onclick = () => api("POST", s.running ? "/api/scheduler/stop" : "/api/scheduler/start").then(refresh).catch(showError);
  t.hidden = false;
}

async function loadJobs() {
  const data = await api("GET", "/api/jobs");
  const rows = $("job-rows");
  rows.replaceChildren();
  for (const j of data.jobs) {
    const row = rows.insertRow();
    link(row.insertCell(), j.name, () => openJob(j.name));
    cell(row, j.type);
    cell(row, j.schedule);
    cell(row, j.status, "status-" + j.status);
    cell(row, time(j.lastRun));
    cell(row, time(j.nextRun));
    cell(row, j.enabled ? "yes" : "no");
    const actions = row.insertCell();
    button(actions, "Run", async () => {
      const r = await api("POST", "/api/job/" + encodeURIComponent(j.name) + "/run");
      await openJob(j.name);
      await openLogs(r.executionId);
    });
    button(actions, j.enabled ? "Disable" : "Enable", async () => {
      await api("PATCH", "/api/job/" + encodeURIComponent(j.name) + "/toggle");
      await refresh();
    });
  }
  $("jobs").hidden = false;
}

async function openJob(name, older) {
  if (!older) state.before = null;
  const q = "?limit=20" + (state.before ? "&before=" + encodeURIComponent(state.before) : "");
  const j = await api("GET", "/api/job/" + encodeURIComponent(name) + q);
  state.job = name;
  $("job-name").textContent = name;
  const m = j.metrics;
  $("job-metrics").textContent = m.totalRuns + " runs, " + m.successfulRuns + " successful, " + m.failedRuns +
    " failed, average " + duration(m.averageDuration) + ", last success " + time(m.lastSuccess);
  const rows = $("history-rows");
  if (!older) rows.replaceChildren();
  for (const e of j.history) {
    const row = rows.insertRow();
    link(row.insertCell(), e.executionId.slice(0, 8), () => openLogs(e.executionId));
    cell(row, e.trigger);
    cell(row, time(e.startTime || e.scheduledTime));
    cell(row, duration(e.duration));
    cell(row, e.status, "status-" + e.status);
    cell(row, e.error);
    const actions = row.insertCell();
    if (e.status === "running") button(actions, "Stop", async () => {
      await api("POST", "/api/execution/" + e.executionId + "/stop");
      await openJob(name);
    });
  }
  state.before = j.history.length ? j.history[j.history.length - 1].executionId : null;
  $("history-more").hidden = j.history.length < 20;
  $("history-more").onclick = () => openJob(name, true).catch(showError);
  $("job").hidden = false;
}

async function openLogs(id) {
  if (state.execution !== id && state.ws && state.ws.readyState === WebSocket.OPEN) {
    if (state.execution) state.ws.send(JSON.stringify({ unsubscribe: state.execution }));
    state.ws.send(JSON.stringify({ subscribe: id }));
  }
  state.execution = id;
  $("logs-id").textContent = id;
  const pre = $("log-lines");
  pre.replaceChildren();
  let after = 0;
  for (;;) {
    const page = await api("GET", "/api/execution/" + id + "/logs?after=" + after);
    $("logs-status").textContent = page.status;
    for (const l of page.logs) appendLine(l);
    after = page.nextAfter;
    if (!page.hasMore) break;
  }
  state.lastSeq = after;
  $("logs").hidden = false;
}

function appendLine(l) {
  const span = document.createElement("span");
  if (l.level === "error") span.className = "stderr";
  span.textContent = l.message + "\n";
  $("log-lines").appendChild(span);
  state.lastSeq = l.seq;
}

async function refresh() {
  try {
    await Promise.all([loadScheduler(), loadJobs()]);
    $("login").hidden = true;
    $("logout").hidden = !state.token;
    showError(null);
    connect();
  } catch (e) {
    showError(e);
  }
}

// connect opens the event stream once; job events refresh the page, log
// lines of the open execution are appended as they come.
function connect() {
  if (state.ws) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = state.token ? "?token=" + encodeURIComponent(state.token) : "";
  const ws = new WebSocket(proto + "//" + location.host + "/api/ws" + q);
  state.ws = ws;
  ws.onopen = () => { if (state.execution) ws.send(JSON.stringify({ subscribe: state.execution })); };
  ws.onclose = () => { state.ws = null; setTimeout(() => { if (state.token || !$("jobs").hidden) connect(); }, 5000); };
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "log.line" && ev.payload.executionId === state.execution && ev.payload.seq > (state.lastSeq || 0)) {
      appendLine(ev.payload);
    } else if (ev.type.startsWith("job.") || ev.type.startsWith("scheduler.")) {
      refresh();
      if (state.job) openJob(state.job).catch(showError);
      if (state.execution && ev.payload.executionId === state.execution) openLogs(state.execution).catch(showError);
    }
  };
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const r = await api("POST", "/api/login", { username: f.get("username"), password: f.get("password") });
    state.token = r.token;
    sessionStorage.setItem("ofelia-token", r.token);
    ev.target.reset();
    await refresh();
  } catch (e) {
    showError(e);
  }
});

$("logout").addEventListener("click", () => {
  if (state.ws) state.ws.close();
  showLogin();
});

refresh();
setInterval(() => { if ($("login").hidden) refresh(); }, 10000);
