// A job's page (definition, schedule with zone and next runs, strip and
// duration chart of the last runs, success rate, history paged from the
// store) and the editor (create, PUT, delete) with the API's validation
// errors beside their field.
import { api, ApiError, h, clear, badge, strip, durationChart, describeRun, timeEl, countdownEl, fmtDuration, jobHref, execHref, nsToGo, TYPES, zoneName } from "./lib.js";
import { state, on, canWrite, report, notify } from "./app.js";
import { runJob, toggleJob } from "./jobs.js";

const PAGE = 50;
const REFETCH_MS = 3000; // a busy job's page is read again at most this often

// The job keys of the API (camelCase), their kind and the types that have
// them, in the order of docs/jobs.md.
const ALL = TYPES;
export const FIELDS = [
  ["schedule", "string", ALL], ["command", "string", ALL], ["enabled", "bool", ALL],
  ["container", "string", ["exec", "run"]], ["image", "string", ["run", "service"]],
  ["user", "string", ["exec", "run", "service"]], ["dir", "string", ["local", "service"]],
  ["workingDir", "string", ["exec", "run"]], ["environment", "list", ALL],
  ["noOverlap", "bool", ALL], ["runOnStartup", "bool", ALL], ["historyLimit", "int", ALL],
  ["maxRuntime", "duration", ALL], ["catchUp", "enum:default,skip,once", ALL],
  ["catchUpDeadline", "duration", ALL], ["tty", "bool", ["exec", "run", "service"]],
  ["privileged", "bool", ["exec"]], ["entrypoint", "string", ["run"]],
  ["network", "string", ["run", "service"]], ["hostname", "string", ["run", "service"]],
  ["containerName", "string", ["run"]], ["delete", "bool", ["run", "service"]],
  ["pull", "enum:always,if-not-present,never", ["run"]], ["volume", "list", ["run", "service"]],
  ["volumesFrom", "list", ["run"]], ["stopSignal", "string", ["run"]], ["stopTimeout", "duration", ["run"]],
  ["maxRetries", "int", ALL], ["dependsOn", "list", ALL], ["onSuccess", "list", ALL], ["onFailure", "list", ALL],
];
const kebab = (k) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const HINTS = {
  schedule: "cron (5 or 6 fields), @every 1h, @daily…; CRON_TZ=Zone first for a zone",
  environment: "one KEY=value per line", volume: "one per line", volumesFrom: "one per line",
  maxRuntime: "e.g. 1h30m; empty: no limit", catchUpDeadline: "e.g. 6h; empty: the global default",
  stopTimeout: "e.g. 30s", historyLimit: "executions kept; empty: the global default",
  maxRetries: "retries of a failed attempt; empty: the global default",
  dependsOn: "one job per line: their latest runs must have succeeded", onSuccess: "one job per line, run when this one succeeds",
  onFailure: "one job per line, run when this one fails after its last retry",
};

function row(label, ...value) {
  return [h("dt", { text: label }), h("dd", {}, ...value)];
}

// links shows the jobs a job names and the jobs that name it, both ways,
// and what of it is pending (retries, triggered runs, waiting slots).
function links(j) {
  const names = (list) => h("span", { class: "links" }, list.map((n, i) => [i ? ", " : null, h("a", { href: jobHref(n), text: n })]));
  const d = j.dependencies || {}, r = j.dependents || {};
  const rows = [
    ["Depends on", d.dependsOn], ["On success runs", d.onSuccess], ["On failure runs", d.onFailure],
    ["Needed by", r.dependsOn], ["Runs on success of", r.onSuccess], ["Runs on failure of", r.onFailure],
  ].filter(([, list]) => list && list.length).map(([label, list]) => row(label, names(list)));
  const pending = (j.pending || []).map((p) => h("li", { dataset: { id: p.executionId } },
    h("span", { class: "tag", text: p.kind === "retry" ? "retry #" + p.attempt : p.kind === "wait" ? "waiting" : "triggered" }), " due ", timeEl(p.dueTime),
    p.reason ? h("span", { class: "muted", text: " · " + p.reason }) : null));
  if (pending.length) rows.push(row("Pending", h("ul", { class: "plain pending" }, pending)));
  return rows;
}

export function jobView(main, name) {
  let job = null, older = [], olderCursor = null, olderDone = false;
  let lastFetch = 0, timer = null, disposed = false;
  const write = canWrite();

  clear(main, h("h1", { text: name }), h("p", { class: "muted", text: "Loading…" }));

  async function fetchJob() {
    lastFetch = Date.now();
    const j = await api("GET", "/api/job/" + encodeURIComponent(name) + "?limit=" + PAGE);
    if (disposed) return;
    job = j;
    draw();
  }

  // refetch reads the page again after a change, at most every REFETCH_MS.
  function refetch() {
    if (timer || disposed) return;
    const wait = Math.max(0, lastFetch + REFETCH_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      fetchJob().catch((e) => { if (e.status === 404) gone(); else report(e); });
    }, wait);
  }

  function gone() {
    clear(main, h("h1", { text: name }), h("p", { class: "empty", text: "There is no job of this name (any more)." }), h("p", {}, h("a", { href: "#/jobs", text: "All jobs" })));
  }

  async function loadOlder() {
    const all = job.history.concat(older);
    const cursor = olderCursor || (all.length ? all[all.length - 1].executionId : null);
    if (!cursor) return;
    const j = await api("GET", "/api/job/" + encodeURIComponent(name) + "?limit=" + PAGE + "&before=" + encodeURIComponent(cursor));
    older = older.concat(j.history);
    olderDone = j.history.length < PAGE;
    olderCursor = older.length ? older[older.length - 1].executionId : cursor;
    draw();
  }

  function history() {
    const seen = new Set();
    return job.history.concat(older).filter((e) => !seen.has(e.executionId) && seen.add(e.executionId));
  }

  function actions() {
    if (!write) return null;
    return h("div", { class: "actions" },
      h("button", { text: "Run now", onclick: () => runJob(name).catch(report) }),
      h("button", { class: "secondary", text: job.enabled ? "Disable" : "Enable", onclick: () => toggleJob(name).then(fetchJob).catch(report) }),
      h("a", { class: "button secondary", href: jobHref(name) + "/edit", text: "Edit" }),
      h("button", {
        class: "danger", text: "Delete",
        onclick: async () => {
          if (!confirm(`Delete job "${name}"? Its history stays in the database.`)) return;
          try {
            await api("DELETE", "/api/job/" + encodeURIComponent(name));
            notify(`Job ${name} deleted`);
            location.hash = "#/jobs";
          } catch (e) { report(e); }
        },
      }));
  }

  function draw() {
    const j = job, m = j.metrics, hist = history();
    const other = m.totalRuns - m.successfulRuns - m.failedRuns;
    const rate = m.totalRuns ? Math.round((m.successfulRuns / m.totalRuns) * 1000) / 10 : null;
    const pick = (r) => { if (r.executionId && r.startTime) location.hash = execHref(r.executionId); };
    const defKeys = new Set(["name", "type", "schedule", "command", "container", "image", "origin", "source", "lastRun", "nextRun", "status", "history", "metrics", "zone", "nextRuns", "overridden", "enabled", "dependencies", "dependents", "pending", "dependsOn", "onSuccess", "onFailure"]);
    const extra = Object.entries(j).filter(([k, v]) => !defKeys.has(k) && v !== null && v !== false && v !== 0 && !(Array.isArray(v) && v.length === 0) && !(k === "catchUp" && v === "default"));
    const fmtValue = (k, v) => (["maxRuntime", "catchUpDeadline", "stopTimeout", "retryDelay", "retryMaxDelay", "dependencyTimeout"].includes(k) ? fmtDuration(v) : Array.isArray(v) ? v.join("\n") : String(v));

    clear(main,
      h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "Jobs" }), " / "),
      h("div", { class: "title-row" },
        h("h1", { text: j.name }),
        badge(j.status),
        h("span", { class: "tag " + (j.enabled ? "yes" : "no"), text: j.enabled ? "enabled" : "disabled" }),
        actions()),
      h("section", { class: "cards" },
        h("div", { class: "card" }, h("h2", { text: "Next run" }),
          j.nextRun ? [h("p", { class: "big" }, countdownEl(j.nextRun)), h("p", {}, timeEl(j.nextRun))]
            : h("p", { class: "big muted", text: j.enabled ? "manual only" : "disabled" })),
        h("div", { class: "card" }, h("h2", { text: "Success rate" }),
          h("p", { class: "big", text: rate === null ? "—" : rate + " %" }),
          h("p", { class: "muted", text: `${m.successfulRuns} ok · ${m.failedRuns} failed · ${other} stopped or interrupted · ${m.totalRuns} runs` })),
        h("div", { class: "card" }, h("h2", { text: "Average duration" }),
          h("p", { class: "big", text: m.totalRuns ? fmtDuration(m.averageDuration) : "—" }),
          h("p", { class: "muted" }, "last success ", timeEl(m.lastSuccess)))),
      h("section", {},
        h("h2", { text: `Last ${Math.min(hist.length, PAGE)} runs` }),
        hist.length ? strip(hist.slice(0, PAGE), { slots: PAGE, cell: 12, height: 24, describe: describeRun, onpick: pick, label: "Last runs, oldest first" })
          : h("p", { class: "muted", text: "No runs yet." }),
        h("h2", { text: "Durations" }),
        durationChart(hist.slice(0, PAGE), describeRun, pick)),
      h("section", {},
        h("h2", { text: "Definition" }),
        h("dl", { class: "def" },
          row("Type", j.type),
          row("Schedule", h("code", { text: j.schedule }), " ", h("span", { class: "muted", text: "in zone " + j.zone })),
          row("Next runs", j.nextRuns && j.nextRuns.length
            ? h("ol", { class: "plain" }, j.nextRuns.map((t) => h("li", {}, timeEl(t))))
            : h("span", { class: "muted", text: j.enabled ? "none planned" : "none: disabled" })),
          row("Command", j.command ? h("code", { text: j.command }) : h("span", { class: "muted", text: "—" })),
          j.container ? row("Container", h("code", { text: j.container })) : null,
          j.image ? row("Image", h("code", { text: j.image })) : null,
          row("Origin", j.origin + (j.source ? " (" + j.source + ")" : ""), j.overridden ? h("span", { class: "tag warn", text: "changed through the API" }) : null),
          links(j),
          extra.map(([k, v]) => row(kebab(k), h("code", { class: "pre", text: fmtValue(k, v) }))))),
      h("section", {},
        h("h2", { text: "History" }),
        h("p", { class: "muted small", text: "Times in " + zoneName() + "." }),
        h("div", { class: "table-wrap" },
          h("table", { class: "history" },
            h("thead", {}, h("tr", {}, ["Run", "Status", "Trigger", "Slot", "Start", "Duration", "Exit", "Error"].map((t) => h("th", { scope: "col", text: t })))),
            h("tbody", {}, hist.map((e) => h("tr", { dataset: { id: e.executionId, status: e.status } },
              h("td", { dataset: { label: "Run" } }, e.startTime ? h("a", { href: execHref(e.executionId), text: e.executionId.slice(0, 8) }) : h("span", { class: "muted", text: "not run" })),
              h("td", { dataset: { label: "Status" } }, badge(e.status)),
              h("td", { dataset: { label: "Trigger" }, text: e.trigger + (e.attempt > 1 ? " #" + e.attempt : "") }),
              h("td", { dataset: { label: "Slot" } }, timeEl(e.scheduledTime)),
              h("td", { dataset: { label: "Start" } }, timeEl(e.startTime)),
              h("td", { dataset: { label: "Duration" }, text: fmtDuration(e.duration) }),
              h("td", { dataset: { label: "Exit" }, text: e.exitCode === null ? "—" : String(e.exitCode) }),
              h("td", { dataset: { label: "Error" }, class: "error-text", text: e.error || "" })))))),
        hist.length >= PAGE && !olderDone ? h("button", { class: "secondary", text: "Older runs", onclick: () => loadOlder().catch(report) }) : null));
  }

  fetchJob().catch((e) => { if (e.status === 404) gone(); else report(e); });
  const off = on((what) => {
    if (!job) return;
    const ev = what.event;
    if (ev && ev.payload && (ev.payload.job === name || ev.payload.name === name)) {
      if (ev.type === "job.removed") return gone();
      if (ev.type === "job.started") {
        // Shown at once; the page read that follows brings the rest.
        job.history.unshift({ executionId: ev.payload.executionId, status: "running", trigger: ev.payload.trigger, startTime: ev.payload.startTime, scheduledTime: null, duration: null, exitCode: null, error: null });
        job.status = "running";
        draw();
      }
      refetch();
    } else if (what.names && what.names.includes(name)) {
      refetch();
    } else if (what.resync) {
      refetch();
    }
  });
  return { dispose: () => { disposed = true; clearTimeout(timer); off(); } };
}

// ---- the editor ----

function valueText(kind, v) {
  if (v === null || v === undefined) return "";
  if (kind === "list") return v.join("\n");
  if (kind === "duration") return nsToGo(v);
  return String(v);
}

export function editView(main, name) {
  const creating = name === null;
  if (!canWrite()) {
    clear(main, h("h1", { text: creating ? "New job" : "Edit " + name }), h("p", { class: "empty", text: "Your role may not change jobs." }));
    return null;
  }
  let original = null, type = "local";
  const inputs = new Map(); // key -> {el, kind}
  const errors = new Map(); // key -> <p>
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const fieldsBox = h("div", { class: "fields" });
  const nameInput = h("input", { name: "name", id: "f-name", required: true, autocomplete: "off", "aria-describedby": "e-name" });
  const typeSelect = h("select", { name: "type", id: "f-type", onchange: (e) => { type = e.target.value; drawFields(); } }, TYPES.map((t) => h("option", { value: t, text: t, selected: t === type })));
  const form = h("form", { class: "editor", novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } });

  function fieldError(key) {
    const p = h("p", { class: "field-error", id: "e-" + key, hidden: true });
    errors.set(key, p);
    return p;
  }

  function drawFields() {
    const keep = new Map([...inputs].map(([k, v]) => [k, v.kind === "bool" ? v.el.checked : v.el.value]));
    inputs.clear();
    for (const k of [...errors.keys()]) if (k !== "name" && k !== "type") errors.delete(k);
    const items = FIELDS.filter(([, , types]) => types.includes(type)).map(([key, kind]) => {
      const id = "f-" + key;
      let el;
      const base = original ? original[key] : key === "enabled" ? true : undefined;
      if (kind === "bool") {
        el = h("input", { type: "checkbox", id, name: key, checked: keep.has(key) ? keep.get(key) : !!base, "aria-describedby": "e-" + key });
      } else if (kind === "list") {
        el = h("textarea", { id, name: key, rows: 3, "aria-describedby": "e-" + key + " h-" + key });
        el.value = keep.has(key) ? keep.get(key) : valueText(kind, base);
      } else if (kind.startsWith("enum:")) {
        el = h("select", { id, name: key, "aria-describedby": "e-" + key }, kind.slice(5).split(",").map((v) => h("option", { value: v, text: v })));
        el.value = keep.has(key) ? keep.get(key) : base || kind.slice(5).split(",")[0];
      } else {
        el = h("input", { id, name: key, autocomplete: "off", "aria-describedby": "e-" + key + " h-" + key, inputMode: kind === "int" ? "numeric" : undefined });
        el.value = keep.has(key) ? keep.get(key) : valueText(kind, base);
      }
      inputs.set(key, { el, kind });
      const label = h("label", { for: id, text: kebab(key) });
      return h("div", { class: "form-row" + (kind === "bool" ? " check" : "") },
        kind === "bool" ? [el, label] : [label, el],
        HINTS[key] ? h("p", { class: "hint muted", id: "h-" + key, text: HINTS[key] }) : null,
        fieldError(key));
    });
    clear(fieldsBox, items);
  }

  // body: every key for a new job; only the changed keys for an edit.
  function body() {
    const out = {};
    for (const [key, { el, kind }] of inputs) {
      let v;
      if (kind === "bool") v = el.checked;
      else if (kind === "list") v = el.value.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (kind === "int") v = el.value.trim() === "" ? null : /^\d+$/.test(el.value.trim()) ? Number(el.value.trim()) : el.value.trim();
      else if (kind === "duration") v = el.value.trim() === "" ? 0 : el.value.trim();
      else v = el.value.trim() === "" ? null : el.value;
      if (creating) {
        if (v !== null && !(Array.isArray(v) && v.length === 0) && v !== 0 && !(kind === "bool" && !v && key !== "enabled")) out[key] = v;
      } else {
        const was = original[key];
        const same = kind === "duration" ? (v === 0 ? !was : valueText(kind, was) === v)
          : JSON.stringify(v) === JSON.stringify(was === undefined ? null : was);
        if (!same) out[key] = v;
      }
    }
    if (creating) out.type = type;
    return out;
  }

  function showErrors(e) {
    for (const p of errors.values()) p.hidden = true;
    for (const { el } of inputs.values()) el.removeAttribute("aria-invalid");
    nameInput.removeAttribute("aria-invalid");
    formError.hidden = true;
    if (!e) return;
    // The API names the key its message is about ("schedule: ...",
    // "unknown key \"x\"", "... local job needs command"): show it there.
    const msg = e.message.replace(/^job "(?:[^"\\]|\\.)*": /, "");
    let key = e.code === "INVALID_SCHEDULE" ? "schedule" : null;
    if (!key) {
      const keys = [...inputs.keys(), "name", "type"];
      key = keys.find((k) => msg.startsWith(k + ":") || msg.startsWith(kebab(k) + ":")) ||
        keys.find((k) => new RegExp(`(^|[\\s"'])(${k}|${kebab(k)})(["'\\s:,.]|$)`).test(msg));
    }
    const p = key && errors.get(key);
    if (p) {
      p.textContent = e.message;
      p.hidden = false;
      const input = key === "name" ? nameInput : key === "type" ? typeSelect : inputs.get(key) && inputs.get(key).el;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
    } else {
      formError.textContent = e.message + (e.code ? " (" + e.code + ")" : "");
      formError.hidden = false;
      formError.focus();
    }
  }

  async function save() {
    const target = creating ? nameInput.value.trim() : name;
    if (creating && !target) {
      showErrors(new ApiError(400, "VALIDATION_ERROR", "name: a job needs a name"));
      return;
    }
    const b = body();
    if (!creating && Object.keys(b).length === 0) {
      location.hash = jobHref(name);
      return;
    }
    try {
      if (creating && state.jobs.has(target)) throw new ApiError(409, "VALIDATION_ERROR", `name: a job called "${target}" exists already`);
      await api("PUT", "/api/job/" + encodeURIComponent(target), b);
      showErrors(null);
      notify(creating ? `Job ${target} created` : `Job ${target} saved`);
      location.hash = jobHref(target);
    } catch (e) {
      if (e instanceof ApiError && e.status !== 401) showErrors(e);
      else report(e);
    }
  }

  function drawForm() {
    clear(form,
      creating ? [
        h("div", { class: "form-row" }, h("label", { for: "f-name", text: "name" }), nameInput, fieldError("name")),
        h("div", { class: "form-row" }, h("label", { for: "f-type", text: "type" }), typeSelect, fieldError("type")),
      ] : h("p", { class: "muted" }, `Type ${type}, origin ${original.origin}` + (original.origin !== "api" ? ": a change here overrides the " + (original.origin === "config" ? "config file" : "container labels") + " until they change this job." : ".")),
      formError,
      fieldsBox,
      h("div", { class: "actions" },
        h("button", { type: "submit", text: creating ? "Create job" : "Save" }),
        h("a", { class: "button secondary", href: creating ? "#/jobs" : jobHref(name), text: "Cancel" })));
    formError.setAttribute("tabindex", "-1");
    drawFields();
  }

  const title = h("h1", { text: creating ? "New job" : "Edit " + name });
  clear(main, h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "Jobs" }), " / ", creating ? null : [h("a", { href: jobHref(name), text: name }), " / "]), title, form);
  if (creating) {
    drawForm();
  } else {
    form.append(h("p", { class: "muted", text: "Loading…" }));
    api("GET", "/api/job/" + encodeURIComponent(name) + "?limit=1").then((j) => {
      original = j;
      type = j.type;
      drawForm();
    }, (e) => report(e));
  }
  return null;
}

