// An execution: status, trigger, timing, exit code, error, and its log
// lines with their time and stream (stderr marked). While it runs the page
// follows it: subscribed to its lines on the socket first, then the stored
// lines are read, and seq joins the two without gaps or doubles.
import { api, h, clear, badge, timeEl, fmtTime, fmtDuration, jobHref, execHref, zoneName } from "./lib.js";
import { on, canWrite, report, subscribe, unsubscribe, state } from "./app.js";

const LOG_PAGE = 5000;

export function executionView(main, id) {
  let ex = null, lastSeq = 0, loading = true, disposed = false, follow = true, filter = "";
  const pending = []; // live lines that came while the stored ones were read
  const lines = [];
  const logBox = h("div", { class: "log", role: "log", "aria-label": "Log lines", tabindex: "0" });
  const info = h("div");
  const matchCount = h("span", { class: "muted small", "aria-live": "polite" });
  const followBox = h("input", { type: "checkbox", id: "follow", checked: true, onchange: (e) => { follow = e.target.checked; if (follow) scrollEnd(); } });

  const crumbs = h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "Jobs" }), " / ");
  clear(main,
    crumbs,
    h("h1", { text: "Execution " + id.slice(0, 8) }),
    info,
    h("section", {},
      h("div", { class: "title-row" },
        h("h2", { text: "Log" }),
        h("form", { class: "log-tools", role: "search", onsubmit: (e) => e.preventDefault() },
          h("label", { class: "field" }, "Search ", h("input", { type: "search", name: "logq", "aria-label": "Search the log", oninput: (e) => { filter = e.target.value.toLowerCase(); applyFilter(); } })),
          matchCount,
          h("span", { class: "check" }, followBox, h("label", { for: "follow", text: "Follow" })),
          h("button", { type: "button", class: "secondary small", text: "Download", onclick: download }))),
      h("p", { class: "muted small", text: "Times in " + zoneName() + "; stderr lines are marked." }),
      logBox));

  logBox.addEventListener("scroll", () => {
    const atEnd = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    if (!atEnd && follow && ex && ex.status === "running" && userScrolled) {
      follow = false;
      followBox.checked = false;
    }
    userScrolled = true;
  });
  let userScrolled = false;

  function scrollEnd() {
    userScrolled = false;
    logBox.scrollTop = logBox.scrollHeight;
  }

  function lineEl(l) {
    const err = l.level === "error";
    const el = h("div", { class: "line" + (err ? " stderr" : ""), dataset: { seq: l.seq } },
      h("time", { class: "ts", datetime: l.timestamp, title: l.timestamp + " (UTC)", text: fmtTime(l.timestamp) }),
      h("span", { class: "stream", text: err ? "stderr" : "stdout" }),
      h("span", { class: "msg", text: l.message }));
    if (filter && !l.message.toLowerCase().includes(filter)) el.hidden = true;
    return el;
  }

  function add(batch) {
    const frag = document.createDocumentFragment();
    for (const l of batch) {
      if (l.seq <= lastSeq) continue;
      lastSeq = l.seq;
      lines.push(l);
      frag.appendChild(lineEl(l));
    }
    logBox.appendChild(frag);
    if (filter) countMatches();
    if (follow) scrollEnd();
  }

  function applyFilter() {
    logBox.querySelectorAll(".line").forEach((el, i) => {
      el.hidden = !!filter && !lines[i].message.toLowerCase().includes(filter);
    });
    countMatches();
  }

  function countMatches() {
    matchCount.textContent = filter ? lines.filter((l) => l.message.toLowerCase().includes(filter)).length + " matching lines" : "";
  }

  function download() {
    const text = lines.map((l) => `${l.timestamp} ${l.level === "error" ? "stderr" : "stdout"} ${l.message}`).join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = h("a", { href: url, download: `${ex ? ex.job : "execution"}-${id}.log` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function drawInfo() {
    const e = ex;
    const stop = canWrite() && e.status === "running"
      ? h("button", {
        class: "danger", text: "Stop",
        onclick: async (ev) => {
          ev.target.disabled = true;
          try { await api("POST", "/api/execution/" + id + "/stop"); } catch (err) { report(err); ev.target.disabled = false; }
        },
      }) : null;
    const job = state.jobs.get(e.job);
    clear(info,
      h("div", { class: "title-row" }, badge(e.status), h("span", {}, "of job ", h("a", { href: jobHref(e.job), text: e.job })), stop),
      h("dl", { class: "def" },
        h("dt", { text: "Trigger" }), h("dd", { text: e.trigger + (e.attempt > 1 ? " (attempt " + e.attempt + ")" : "") }),
        e.causeId ? [h("dt", { text: "Caused by" }), h("dd", {}, h("a", { href: execHref(e.causeId), text: e.causeId.slice(0, 8) }))] : null,
        e.caused && e.caused.length ? [h("dt", { text: "Caused" }), h("dd", {}, h("ul", { class: "plain" }, e.caused.map((c) =>
          h("li", {}, c.status === "pending" ? h("span", { text: c.executionId.slice(0, 8) }) : h("a", { href: execHref(c.executionId), text: c.executionId.slice(0, 8) }),
            " ", c.job, " · ", c.trigger, " · ", badge(c.status)))))] : null,
        h("dt", { text: "Slot" }), h("dd", {}, timeEl(e.scheduledTime)),
        h("dt", { text: "Start" }), h("dd", {}, timeEl(e.startTime)),
        h("dt", { text: "End" }), h("dd", {}, e.status === "running" ? h("span", { class: "muted", text: "running…" }) : timeEl(e.endTime)),
        h("dt", { text: "Duration" }), h("dd", { text: e.status === "running" ? "—" : fmtDuration(e.duration) }),
        h("dt", { text: "Exit code" }), h("dd", { text: e.exitCode === null || e.exitCode === undefined ? "—" : String(e.exitCode) }),
        e.error ? [h("dt", { text: "Error" }), h("dd", { class: "error-text", text: e.error })] : null,
        e.droppedLines ? [h("dt", { text: "Dropped lines" }), h("dd", { text: String(e.droppedLines) })] : null,
        job && job.type ? [h("dt", { text: "Job type" }), h("dd", { text: job.type })] : null));
  }

  async function readLogs() {
    for (;;) {
      const page = await api("GET", `/api/execution/${id}/logs?after=${lastSeq}&limit=${LOG_PAGE}`);
      if (disposed) return;
      add(page.logs);
      if (!page.hasMore) break;
    }
  }

  async function load() {
    ex = await api("GET", "/api/execution/" + id);
    if (disposed) return;
    crumbs.append(h("a", { href: jobHref(ex.job), text: ex.job }), " / ");
    drawInfo();
    if (ex.status === "running") subscribe(id);
    await readLogs();
    loading = false;
    add(pending.splice(0).sort((a, b) => a.seq - b.seq));
    if (!lines.length && ex.status !== "running") logBox.append(h("p", { class: "muted", text: "No output." }));
  }

  async function finished(p) {
    Object.assign(ex, { status: p.status, endTime: p.endTime, duration: p.duration, exitCode: p.exitCode, error: p.error });
    drawInfo();
    unsubscribe(id);
    // The lines the socket may not have carried (written before we
    // subscribed, or while it was down) are read once more.
    const [e] = await Promise.all([api("GET", "/api/execution/" + id), readLogs()]);
    if (disposed) return;
    ex = e;
    drawInfo();
  }

  load().catch((e) => {
    if (e.status === 404) clear(info, h("p", { class: "empty", text: "There is no execution with this id." }));
    else report(e);
  });

  const off = on((what) => {
    const ev = what.event;
    if (!ex) return;
    if (what.resync && ex.status === "running") {
      api("GET", "/api/execution/" + id).then((e) => { if (e.status !== "running") finished(e); }).catch(report);
      readLogs().catch(report);
      return;
    }
    if (!ev || !ev.payload || ev.payload.executionId !== id) return;
    if (ev.type === "log.line") {
      if (loading) pending.push(ev.payload);
      else add([ev.payload]);
    } else if (ev.type === "job.completed" || ev.type === "job.failed") {
      finished(ev.payload).catch(report);
    }
  });
  return { dispose: () => { disposed = true; off(); unsubscribe(id); } };
}
