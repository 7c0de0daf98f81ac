// The job list: search and filters (kept in the URL), sorting, a status
// strip and a countdown per row, run and enable/disable for those who may.
// Rows are built once and updated in place when jobs.changed names them.
import { api, h, clear, badge, strip, timeEl, countdownEl, jobHref, STATUSES, TYPES, ORIGINS, zoneName } from "./lib.js";
import { state, on, canWrite, report, notify } from "./app.js";

const SORTS = { name: "name", next: "next run", last: "last run" };

function matches(j, f) {
  if (f.q) {
    const q = f.q.toLowerCase();
    const hay = [j.name, j.command, j.schedule, j.container, j.image].filter(Boolean).join(" ").toLowerCase();
    if (!hay.includes(q)) return false;
  }
  if (f.type && j.type !== f.type) return false;
  if (f.status && (j.status || "none") !== f.status) return false;
  if (f.origin && j.origin !== f.origin) return false;
  if (f.enabled === "yes" && !j.enabled) return false;
  if (f.enabled === "no" && j.enabled) return false;
  return true;
}

function compare(sort) {
  const t = (v, missing) => (v ? Date.parse(v) : missing);
  if (sort === "next") return (a, b) => t(a.nextRun, Infinity) - t(b.nextRun, Infinity) || a.name.localeCompare(b.name);
  if (sort === "last") return (a, b) => t(b.lastRun, -Infinity) - t(a.lastRun, -Infinity) || a.name.localeCompare(b.name);
  return (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export async function runJob(name) {
  const r = await api("POST", "/api/job/" + encodeURIComponent(name) + "/run");
  location.hash = "#/execution/" + r.executionId;
}

export async function toggleJob(name) {
  const r = await api("PATCH", "/api/job/" + encodeURIComponent(name) + "/toggle");
  const j = state.jobs.get(name);
  if (j) j.enabled = r.enabled;
  notify(r.message + ": " + name);
  return r;
}

export function jobsView(main, params) {
  const f = {
    q: params.get("q") || "", type: params.get("type") || "", status: params.get("status") || "",
    origin: params.get("origin") || "", enabled: params.get("enabled") || "", sort: params.get("sort") || "name",
  };
  const rows = new Map(); // name -> tr
  const write = canWrite();

  const select = (key, label, values) =>
    h("label", { class: "field" }, label + " ",
      h("select", { name: key, onchange: (e) => { f[key] = e.target.value; changed(); } },
        h("option", { value: "", text: "all" }),
        values.map((v) => h("option", { value: v, text: v, selected: f[key] === v }))));

  const search = h("input", { type: "search", name: "q", value: f.q, placeholder: "name, command, image…", "aria-label": "Search jobs", oninput: (e) => { f.q = e.target.value; changed(); } });
  const count = h("p", { class: "muted count", "aria-live": "polite" });
  // A grid of rows rather than a <table>: rows off screen skip layout and
  // paint (content-visibility), so a thousand jobs draw as fast as twenty.
  const tbody = h("div", { class: "jt-body", role: "rowgroup", id: "job-rows" });
  const table = h("div", { class: "jobs-table" + (write ? " with-actions" : ""), role: "table", "aria-label": "Jobs" },
    h("div", { class: "jt-head", role: "rowgroup" }, h("div", { class: "jt-row", role: "row" },
      ["Name", "Type", "Schedule", "Status", "Recent runs", "Last run", "Next run", "Enabled"].map((t) => h("span", { role: "columnheader", text: t })),
      write ? h("span", { role: "columnheader" }, h("span", { class: "sr-only", text: "Actions" })) : null)),
    tbody);
  const empty = h("p", { class: "empty", hidden: true });

  clear(main,
    h("div", { class: "title-row" },
      h("h1", { text: "Jobs" }),
      write ? h("a", { class: "button", href: "#/new", text: "New job" }) : null),
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("label", { class: "field grow" }, "Search ", search),
      select("type", "Type", TYPES),
      select("status", "Status", STATUSES.concat(["none"])),
      select("origin", "Origin", ORIGINS),
      select("enabled", "Enabled", ["yes", "no"]),
      h("label", { class: "field" }, "Sort by ",
        h("select", { name: "sort", onchange: (e) => { f.sort = e.target.value; changed(); } },
          Object.entries(SORTS).map(([v, t]) => h("option", { value: v, text: t, selected: f.sort === v }))))),
    count,
    h("p", { class: "muted small", text: "Times in " + zoneName() + "." }),
    table,
    empty);

  function cells(tr, j) {
    const sig = JSON.stringify(j);
    if (tr.dataset.sig === sig) return;
    tr.dataset.sig = sig;
    // Keep the keyboard where it was when the row is drawn again.
    const focusables = () => [...tr.querySelectorAll("a, button")];
    const focused = tr.contains(document.activeElement) ? focusables().indexOf(document.activeElement) : -1;
    tr.dataset.status = j.status || "none";
    tr.dataset.enabled = j.enabled ? "yes" : "no";
    tr.dataset.next = j.nextRun || "";
    tr.dataset.last = j.lastRun || "";
    const next = j.nextRun
      ? [timeEl(j.nextRun), countdownEl(j.nextRun, "muted")]
      : h("span", { class: "muted", text: j.enabled ? "manual" : "—" });
    const td = (label, ...c) => h("div", { role: "cell", dataset: { label } }, ...c);
    clear(tr,
      h("div", { role: "rowheader", class: "jt-name", dataset: { label: "Name" } }, h("a", { href: jobHref(j.name), text: j.name })),
      td("Type", j.type),
      td("Schedule", h("code", { text: j.schedule })),
      td("Status", badge(j.status)),
      td("Recent runs", strip(j.recent || [], { slots: 20, label: "Last " + (j.recent || []).length + " runs: " + (j.recent || []).join(", ") })),
      td("Last run", timeEl(j.lastRun)),
      td("Next run", next),
      td("Enabled", h("span", { class: j.enabled ? "yes" : "no", text: j.enabled ? "yes" : "no" })),
      write ? td("Actions",
        h("div", { class: "actions" },
          h("button", { class: "small", text: "Run", title: "Run " + j.name + " now", onclick: () => runJob(j.name).catch(report) }),
          h("button", {
            class: "small secondary", text: j.enabled ? "Disable" : "Enable",
            onclick: (e) => { e.target.disabled = true; toggleJob(j.name).then(() => update([j.name]), report).finally(() => { e.target.disabled = false; }); },
          }))) : null);
    if (focused >= 0 && focusables()[focused]) focusables()[focused].focus();
  }

  function rowFor(j) {
    let tr = rows.get(j.name);
    if (!tr) {
      tr = h("div", { class: "jt-row", role: "row", dataset: { name: j.name } });
      rows.set(j.name, tr);
    }
    cells(tr, j);
    return tr;
  }

  // draw puts the rows in order. The first screenfuls are built at once,
  // the rest in chunks between frames: a thousand rows show as fast as a
  // hundred, and the page answers while the rest are made.
  const FIRST = 100, CHUNK = 250;
  let generation = 0;
  function draw() {
    const list = [...state.jobs.values()].filter((j) => matches(j, f)).sort(compare(f.sort));
    const gen = ++generation;
    const put = (from, to) => {
      const frag = document.createDocumentFragment();
      for (const j of list.slice(from, to)) frag.appendChild(rows.get(j.name) || rowFor(j));
      return frag;
    };
    tbody.dataset.complete = list.length <= FIRST ? "yes" : "no";
    tbody.replaceChildren(put(0, FIRST));
    const more = (from) => {
      if (gen !== generation || from >= list.length) return;
      tbody.appendChild(put(from, from + CHUNK));
      if (from + CHUNK >= list.length) {
        tbody.dataset.complete = "yes";
        if (!performance.getEntriesByName("ofelia:jobs-complete").length) performance.mark("ofelia:jobs-complete");
      }
      else setTimeout(() => more(from + CHUNK), 0);
    };
    setTimeout(() => more(FIRST), 0);
    for (const name of [...rows.keys()]) if (!state.jobs.has(name)) rows.delete(name);
    count.textContent = state.jobsLoaded ? `${list.length} of ${state.jobs.size} jobs` : "Loading…";
    empty.hidden = !state.jobsLoaded || list.length > 0;
    empty.textContent = state.jobs.size === 0 ? "No jobs yet." : "No job matches these filters.";
  }

  function update(names) {
    let reorder = false;
    for (const name of names) {
      const j = state.jobs.get(name);
      if (!j) { reorder = true; continue; }
      const tr = rows.get(name);
      if (!tr) { if (matches(j, f)) reorder = true; continue; }
      const before = tr.dataset.next + tr.dataset.last + tr.dataset.status + tr.dataset.enabled;
      cells(tr, j);
      if (!matches(j, f) !== !tr.isConnected) reorder = true;
      else if (f.sort !== "name" && before !== tr.dataset.next + tr.dataset.last + tr.dataset.status + tr.dataset.enabled) reorder = true;
    }
    if (reorder) draw();
  }

  // Filters go into the URL without adding history entries per keystroke.
  function changed() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v && !(k === "sort" && v === "name")) q.set(k, v);
    const s = q.toString();
    history.replaceState(null, "", "#/jobs" + (s ? "?" + s : ""));
    draw();
  }

  let painted = false;
  function firstPaint() {
    if (painted || !state.jobsLoaded) return;
    painted = true;
    requestAnimationFrame(() => setTimeout(() => performance.mark("ofelia:jobs-painted"), 0));
  }

  draw();
  firstPaint();
  const off = on((what) => {
    if (what.all) {
      for (const [name, tr] of rows) if (state.jobs.has(name)) cells(tr, state.jobs.get(name));
      draw();
      firstPaint();
    } else if (what.names) {
      update(what.names);
    }
  });
  return { dispose: off };
}
