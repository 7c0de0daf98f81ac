// Helpers every view uses: the API client, DOM building, time and duration
// text, and the SVG pictures (status strips, duration bars). No framework:
// the page is small enough to build its DOM by hand, and nothing outside the
// binary is ever fetched.

export const STATUSES = ["running", "success", "failed", "skipped", "stopped", "interrupted", "missed", "expired"];
export const TYPES = ["exec", "run", "local", "service"];
export const ORIGINS = ["config", "docker-label", "api"];

// ---- the API ----

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

const auth = { token: sessionStorage.getItem("ofelia-token"), onUnauthorized: null, onBusy: null };

export function token() {
  return auth.token;
}

export function setToken(t) {
  auth.token = t;
  if (t) sessionStorage.setItem("ofelia-token", t);
  else sessionStorage.removeItem("ofelia-token");
}

// onUnauthorized(hadToken) is called on a 401 (the token expired or was
// refused); onBusy(seconds) when the server asked us to slow down.
export function setApiHooks(onUnauthorized, onBusy) {
  auth.onUnauthorized = onUnauthorized;
  auth.onBusy = onBusy;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// api sends one request and returns the parsed body, or throws ApiError.
// A 429 is waited out (Retry-After) and tried again once: the UI never shows
// a rate-limit error for something it can simply do a little later.
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (auth.token) headers.Authorization = "Bearer " + auth.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "NETWORK", "ofelia does not answer (" + e.message + ")");
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (res.status === 429 && attempt === 0) {
      const wait = Math.min(60, Math.max(1, Number(res.headers.get("Retry-After")) || 2));
      if (auth.onBusy) auth.onBusy(wait);
      await sleep(wait * 1000);
      continue;
    }
    if (res.ok) return data;
    const err = data && data.error ? data.error : { code: "HTTP_" + res.status, message: res.statusText };
    if (res.status === 401 && path !== "/api/login" && auth.onUnauthorized) {
      const had = !!auth.token;
      setToken(null);
      auth.onUnauthorized(had);
    }
    throw new ApiError(res.status, err.code, err.message, err.details);
  }
}

// tokenClaims reads a JWT's claims (no check: the server checks it).
export function tokenClaims(t) {
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch (e) {
    return null;
  }
}

// ---- DOM ----

// h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child...)
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (!svg && k in el && typeof el[k] !== "object" && k !== "list" && k !== "form") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(status) {
  return h("span", { class: "badge st-" + (status || "none"), text: status || "never run" });
}

export function jobHref(name) {
  return "#/job/" + encodeURIComponent(name);
}

export function execHref(id) {
  return "#/execution/" + id;
}

// ---- time ----

const timeState = { utc: localStorage.getItem("ofelia-utc") === "1" };
export const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";

export function useUtc() {
  return timeState.utc;
}

export function setUtc(on) {
  timeState.utc = on;
  localStorage.setItem("ofelia-utc", on ? "1" : "0");
}

export function zoneName() {
  return timeState.utc ? "UTC" : browserZone;
}

// fmtTime: "2026-01-02 03:04:05" in the zone in force; "—" for none. Date's
// own fields are the browser's zone, which is what is shown: much cheaper
// than Intl for a thousand rows.
export function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  const u = timeState.utc;
  const two = (n) => (n < 10 ? "0" + n : "" + n);
  const y = u ? d.getUTCFullYear() : d.getFullYear();
  const mo = (u ? d.getUTCMonth() : d.getMonth()) + 1;
  const da = u ? d.getUTCDate() : d.getDate();
  const hh = u ? d.getUTCHours() : d.getHours();
  const mi = u ? d.getUTCMinutes() : d.getMinutes();
  const ss = u ? d.getUTCSeconds() : d.getSeconds();
  return `${y}-${two(mo)}-${two(da)} ${two(hh)}:${two(mi)}:${two(ss)}`;
}

// timeEl is a <time> whose tooltip has the UTC instant.
export function timeEl(t, cls) {
  if (!t) return h("span", { class: "muted", text: "—" });
  return h("time", { datetime: t, title: t + " (UTC)", class: cls, text: fmtTime(t) });
}

// fmtDuration takes nanoseconds: "850 ms", "12.3 s", "4m 05s", "2h 03m", "3d 4h".
export function fmtDuration(ns) {
  if (ns === null || ns === undefined) return "—";
  const ms = ns / 1e6;
  if (ms < 1) return ns < 1000 ? ns + " ns" : Math.round(ns / 1000) + " µs";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  return fmtSpan(Math.round(s));
}

function fmtSpan(sec) {
  const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600);
  const mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${two(mm)}m`;
  if (mm > 0) return `${mm}m ${two(ss)}s`;
  return `${ss}s`;
}

// countdown: "in 4m 05s", "due now", "5s ago".
export function countdown(t, now) {
  if (!t) return "";
  const sec = Math.round((new Date(t).getTime() - now) / 1000);
  if (sec > 0) return "in " + fmtSpan(sec);
  if (sec > -2) return "due now";
  return fmtSpan(-sec) + " ago";
}

// countdownEl is kept current by the page's one-second tick.
export function countdownEl(t, cls) {
  return h("span", { class: "countdown " + (cls || ""), dataset: { countdown: t }, text: countdown(t, Date.now()) });
}

// Go duration text for an editor field: 5400000000000 -> "1h30m".
export function nsToGo(ns) {
  if (!ns) return "";
  let rest = ns;
  const units = [["h", 3600e9], ["m", 60e9], ["s", 1e9], ["ms", 1e6], ["us", 1e3], ["ns", 1]];
  let out = "";
  for (const [u, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += n + u;
      rest -= n * size;
    }
  }
  return out;
}

// ---- pictures ----

// strip draws runs (newest first, as the API gives them) oldest to newest,
// left to right: one coloured cell per run. Cells of `items` (history rows)
// are focusable and describe themselves; plain statuses only colour.
export function strip(runs, opts = {}) {
  const n = opts.slots || runs.length;
  const w = opts.cell || 8, gap = 2, hgt = opts.height || 16;
  const width = Math.max(1, n * (w + gap) - gap);
  const svg = h("svg:svg", {
    class: "strip", width, height: hgt, viewBox: `0 0 ${width} ${hgt}`,
    role: opts.describe ? "list" : "img",
    "aria-label": opts.label || runs.length + " recent runs",
  });
  if (!opts.describe) svg.appendChild(h("svg:title", { text: opts.label || "" }));
  const ordered = runs.slice(0, n).reverse();
  const offset = n - ordered.length;
  ordered.forEach((run, i) => {
    const status = typeof run === "string" ? run : run.status;
    const rect = h("svg:rect", {
      x: (offset + i) * (w + gap), y: 0, width: w, height: hgt, rx: 2,
      class: "cell st-" + status,
    });
    if (opts.describe) {
      const text = opts.describe(run);
      rect.setAttribute("tabindex", "0");
      rect.setAttribute("role", "listitem");
      rect.setAttribute("aria-label", text);
      rect.appendChild(h("svg:title", { text }));
      if (opts.onpick) {
        rect.addEventListener("click", () => opts.onpick(run));
        rect.addEventListener("keydown", (e) => { if (e.key === "Enter") opts.onpick(run); });
      }
    }
    svg.appendChild(rect);
  });
  return svg;
}

// durationChart: bars of the runs' durations (oldest left), coloured by
// status, with the longest labelled on the axis.
export function durationChart(runs, describe, onpick) {
  const data = runs.filter((r) => r.duration !== null && r.duration !== undefined).slice().reverse();
  const W = 600, H = 140, left = 56, bottom = 18, top = 8;
  const svg = h("svg:svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "list", "aria-label": "Durations of the last " + data.length + " runs" });
  if (data.length === 0) {
    svg.appendChild(h("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis", text: "no finished runs yet" }));
    return svg;
  }
  const max = Math.max(...data.map((r) => r.duration), 1);
  const plotW = W - left - 4, plotH = H - top - bottom;
  const step = plotW / data.length;
  const bw = Math.max(1, Math.min(24, step - 2));
  svg.appendChild(h("svg:line", { x1: left, y1: top + plotH, x2: W - 4, y2: top + plotH, class: "gridline" }));
  svg.appendChild(h("svg:line", { x1: left, y1: top, x2: W - 4, y2: top, class: "gridline" }));
  svg.appendChild(h("svg:text", { x: left - 6, y: top + 4, "text-anchor": "end", class: "axis", text: fmtDuration(max) }));
  svg.appendChild(h("svg:text", { x: left - 6, y: top + plotH, "text-anchor": "end", class: "axis", text: "0" }));
  svg.appendChild(h("svg:text", { x: left, y: H - 4, class: "axis", text: "older" }));
  svg.appendChild(h("svg:text", { x: W - 4, y: H - 4, "text-anchor": "end", class: "axis", text: "newer" }));
  data.forEach((r, i) => {
    const bh = Math.max(1, (r.duration / max) * plotH);
    const text = describe(r);
    const bar = h("svg:rect", {
      x: left + i * step + (step - bw) / 2, y: top + plotH - bh, width: bw, height: bh,
      class: "bar st-" + r.status, tabindex: 0, role: "listitem", "aria-label": text,
    });
    bar.appendChild(h("svg:title", { text }));
    bar.addEventListener("click", () => onpick(r));
    bar.addEventListener("keydown", (e) => { if (e.key === "Enter") onpick(r); });
    svg.appendChild(bar);
  });
  return svg;
}

// describeRun is the hover / focus text of a run in strips and charts.
export function describeRun(r) {
  const parts = [r.status];
  if (r.scheduledTime) parts.push("slot " + fmtTime(r.scheduledTime));
  if (r.startTime) parts.push("start " + fmtTime(r.startTime));
  if (r.duration !== null && r.duration !== undefined) parts.push("took " + fmtDuration(r.duration));
  if (r.trigger && r.trigger !== "schedule") parts.push(r.trigger);
  if (r.error) parts.push(r.error);
  return parts.join(" · ");
}
