// The scheduler panel (status, start/stop, reload, the configuration in
// force with its secrets masked by the server) and the login page.
import { api, h, clear, timeEl, fmtDuration } from "./lib.js";
import { state, on, canWrite, report, notify, loggedIn, takeLoginNotice } from "./app.js";

function value(v) {
  if (v === null || v === undefined) return h("span", { class: "muted", text: "—" });
  if (typeof v === "object") return h("code", { class: "pre", text: JSON.stringify(v, null, 2) });
  return h("code", { text: String(v) });
}

export function schedulerView(main) {
  const write = canWrite();
  const status = h("div");
  const config = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
  let cfgTimer = null, disposed = false;

  clear(main, h("h1", { text: "Scheduler" }), status,
    h("section", {}, h("h2", { text: "Configuration in force" }),
      h("p", { class: "muted small", text: "As the server reports it: passwords, keys and secret environment values are masked." }),
      config));

  function drawStatus() {
    const s = state.scheduler;
    if (!s) return clear(status, h("p", { class: "muted", text: "Loading…" }));
    const uptime = s.startTime ? fmtDuration((Date.now() - Date.parse(s.startTime)) * 1e6) : "—";
    clear(status,
      h("div", { class: "title-row" },
        h("span", { class: "badge " + (s.running ? "st-success" : "st-stopped"), text: s.running ? "running" : "stopped" }),
        write ? h("div", { class: "actions" },
          h("button", {
            class: s.running ? "danger" : "", text: s.running ? "Stop scheduler" : "Start scheduler",
            onclick: async () => {
              try {
                const r = await api("POST", s.running ? "/api/scheduler/stop" : "/api/scheduler/start");
                state.scheduler.running = r.running;
                notify(r.message);
                drawStatus();
              } catch (e) { report(e); }
            },
          }),
          h("button", {
            class: "secondary", text: "Reload configuration",
            onclick: async () => {
              try {
                const r = await api("POST", "/api/scheduler/reload");
                notify(`${r.message}: ${r.jobsAdded} added, ${r.jobsUpdated} updated, ${r.jobsRemoved} removed`);
              } catch (e) { report(e); }
            },
          })) : null),
      h("dl", { class: "def" },
        h("dt", { text: "Started" }), h("dd", {}, timeEl(s.startTime), " ", h("span", { class: "muted", text: "(up " + uptime + ")" })),
        h("dt", { text: "Jobs" }), h("dd", { text: `${s.totalJobs} (${s.activeJobs} enabled)` }),
        h("dt", { text: "Running now" }), h("dd", { text: String(s.runningJobs) }),
        h("dt", { text: "Next" }), h("dd", {}, s.nextJob ? [h("a", { href: "#/job/" + encodeURIComponent(s.nextJob.name), text: s.nextJob.name }), " at ", timeEl(s.nextJob.scheduledTime)] : "nothing planned")));
  }

  async function loadConfig() {
    const c = await api("GET", "/api/config");
    if (disposed) return;
    const section = (title, obj) => h("div", {}, h("h3", { text: title }),
      h("dl", { class: "def" }, Object.entries(obj || {}).map(([k, v]) => [h("dt", { text: k }), h("dd", {}, value(v))])));
    const jobs = Object.entries(c.jobs || {}).map(([t, list]) => `${t}: ${list.length}`).join(", ");
    clear(config, section("global", c.global), section("web", c.web), h("p", { class: "muted", text: "Jobs in the config file: " + (jobs || "none") }));
  }

  drawStatus();
  loadConfig().catch((e) => { clear(config, h("p", { class: "muted", text: "Cannot read the configuration: " + e.message })); });
  const off = on((what) => {
    if (what.scheduler || what.resync) drawStatus();
    if (what.event && what.event.type === "config.updated" && !cfgTimer) {
      cfgTimer = setTimeout(() => { cfgTimer = null; loadConfig().catch(report); }, 1000);
    }
  });
  return { dispose: () => { disposed = true; clearTimeout(cfgTimer); off(); } };
}

export function loginView(main, params) {
  const next = params.get("next") || "#/jobs";
  const notice = takeLoginNotice();
  const msg = h("p", { class: "form-error", role: "alert", hidden: true });
  const user = h("input", { name: "username", id: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", text: "Log in" });
  const form = h("form", {
    class: "login", onsubmit: async (e) => {
      e.preventDefault();
      msg.hidden = true;
      button.disabled = true;
      try {
        const r = await api("POST", "/api/login", { username: user.value, password: pass.value });
        await loggedIn(r.token);
        location.replace(next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/jobs");
      } catch (err) {
        msg.textContent = err.status === 401 ? "Wrong user name or password." : err.message;
        msg.hidden = false;
        pass.value = "";
        pass.focus();
      } finally {
        button.disabled = false;
      }
    },
  },
  h("h1", { text: "Log in to ofelia" }),
  notice ? h("p", { class: "info", text: notice }) : null,
  msg,
  h("div", { class: "form-row" }, h("label", { for: "username", text: "User" }), user),
  h("div", { class: "form-row" }, h("label", { for: "password", text: "Password" }), pass),
  button);
  clear(main, form);
  user.focus();
  return null;
}
