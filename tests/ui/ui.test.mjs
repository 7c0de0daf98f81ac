// The web UI in a real browser (Debian's Chromium through playwright-core)
// against the real daemon with auth on: login (good, bad, expired token),
// the list, search and filters, the job page, run now with live log lines,
// disable/enable seen everywhere, a viewer without controls, deep links and
// reload, a job created and edited, the scheduler panel, narrow screens and
// dark mode, a session without any 429 (OFELIA_UI_SESSION_SECONDS, 60 here;
// `make test-ui-long` runs 600 with more jobs), and the load of 1,000 jobs.
// Screenshots of each main view go to build/ui-screenshots.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { Daemon, launch, closeBrowser, login, shot, watch, listState, makeToken, sleep, uiBytes, SHOTS } from "./harness.mjs";
import { runSession } from "./session.mjs";

const JOBS = {
  hello: { command: "sh -c 'echo one; sleep 2; echo two >&2; echo three'", onFailure: ["failing"] },
  failing: { command: "sh -c 'echo bad >&2; exit 3'" },
  "backup db": { command: "echo dumped", schedule: "0 3 * * *" },
  sleeper: { command: "sleep 30" },
  ticker: { command: "echo tick", schedule: "@every 2s" },
  dormant: { command: "true", enabled: false },
};

describe("web UI", () => {
  let d, ctx, page, seen;

  before(async () => {
    // These steps go faster than a person clicks, and two tabs of this
    // machine share one allowance: the default limit would slow them down.
    // The session below keeps the default and a person's pace.
    d = await new Daemon(JOBS, "  rate-limit: {requests-per-minute: 1200, burst: 100}\n").start();
    ctx = await launch();
    page = await ctx.newPage();
    seen = watch(page);
  });

  after(async () => {
    await closeBrowser(ctx);
    if (d) {
      const code = await d.stop();
      const log = d.log();
      d.cleanup();
      assert.equal(code, 0, "daemon exit status; log:\n" + log.slice(-3000));
    }
  });

  it("keeps the assets within budget", async () => {
    const { raw, gz } = await uiBytes();
    console.log(`# ui assets: ${raw} bytes, ${gz} bytes gzipped (each file gzip -9)`);
    assert.ok(gz <= 150 * 1024, `UI assets are ${gz} bytes gzipped, over 150 KB`);
  });

  it("logs in: the form opens clean, a bad password is refused, a good one gets in", async () => {
    await page.goto(d.url + "/#/job/hello");
    await page.waitForSelector("form.login");
    assert.equal(await page.isVisible(".form-error"), false, "the login page opens without an error");
    assert.equal(await page.isVisible(".notice.error"), false);
    await shot(page, "login");
    await page.fill("#username", "admin");
    await page.fill("#password", "wrong");
    await page.click("form.login button[type=submit]");
    await page.waitForSelector(".form-error:not([hidden])");
    assert.match(await page.textContent(".form-error"), /Wrong user name or password/);
    await page.fill("#password", "admin-pass-1");
    await page.click("form.login button[type=submit]");
    // back where the deep link pointed
    await page.waitForSelector("dl.def");
    assert.equal(new URL(page.url()).hash, "#/job/hello");
    assert.match(await page.textContent("#who"), /admin \(admin\)/);
  });

  it("sends an expired token back to the login page with a word why", async () => {
    const p = await ctx.newPage();
    await p.goto(d.url + "/favicon.svg");
    const expired = makeToken({ sub: "admin", role: "admin", iat: 1000, exp: Math.floor(Date.now() / 1000) - 60 });
    await p.evaluate((t) => sessionStorage.setItem("ofelia-token", t), expired);
    await p.goto(d.url + "/#/jobs");
    await p.waitForSelector("form.login");
    assert.match(await p.textContent("form.login .info"), /session has ended/);
    assert.equal(await p.isVisible(".form-error"), false);
    await p.close();
  });

  it("lists the jobs with strips, countdowns and zone, and follows them live", async () => {
    await page.goto(d.url + "/#/jobs");
    await page.waitForSelector("#job-rows > [role=row]");
    const rows = await listState(page);
    assert.deepEqual(rows.map((r) => r.name).sort(), Object.keys(JOBS).sort());
    assert.match(await page.textContent("main"), /Times in Europe\/Berlin/);
    assert.match(await page.textContent("#tz"), /Europe\/Berlin/);
    // the ticker runs every 2 s: its strip and last run move without a reload
    const before = (await listState(page)).find((r) => r.name === "ticker").last;
    await page.waitForFunction((b) => {
      const tr = document.querySelector('#job-rows [data-name="ticker"]');
      return tr && tr.dataset.last && tr.dataset.last !== b && tr.querySelectorAll("rect.cell").length >= 2;
    }, before, { timeout: 15000 });
    assert.equal(await page.textContent('#job-rows [data-name="dormant"] [data-label="Enabled"]'), "no");
    assert.match(await page.textContent('#job-rows [data-name="hello"] [data-label="Next run"]'), /in 59m|in 1h/);
    await shot(page, "jobs");
  });

  it("searches and filters, and keeps them in the URL across a reload", async () => {
    await page.fill("input[name=q]", "back");
    await page.waitForFunction(() => document.querySelectorAll("#job-rows > [role=row]").length === 1);
    assert.equal((await listState(page))[0].name, "backup db");
    assert.equal(new URL(page.url()).hash, "#/jobs?q=back");
    await page.reload();
    await page.waitForSelector("#job-rows > [role=row]");
    assert.equal(await page.inputValue("input[name=q]"), "back");
    assert.deepEqual((await listState(page)).map((r) => r.name), ["backup db"]);
    await page.fill("input[name=q]", "");
    await page.selectOption("select[name=enabled]", "no");
    await page.waitForFunction(() => document.querySelectorAll("#job-rows > [role=row]").length === 1);
    assert.equal((await listState(page))[0].name, "dormant");
    await page.selectOption("select[name=enabled]", "");
    await page.selectOption("select[name=sort]", "next");
    await page.waitForFunction(() => document.querySelectorAll("#job-rows > [role=row]").length === 6);
    assert.equal((await listState(page))[0].name, "ticker", "the soonest next run first");
    await page.goto(d.url + "/#/jobs");
  });

  it("shows a job page: definition, zone, next runs, strip, chart, history; back returns", async () => {
    await page.goto(d.url + "/#/jobs");
    await page.click('a[href="#/job/ticker"]');
    await page.waitForSelector("dl.def");
    assert.equal(new URL(page.url()).hash, "#/job/ticker");
    const text = await page.textContent("main");
    assert.match(text, /in zone Local/);
    assert.equal(await page.locator("ol.plain li").count(), 5, "the next 5 runs");
    assert.match(text, /Origin\s*config/);
    await page.waitForSelector("svg.strip rect.cell[tabindex]");
    await page.waitForSelector("svg.chart rect.bar");
    // a run in the strip tells what it was, on hover or focus
    const label = await page.getAttribute("svg.strip rect.cell[tabindex]", "aria-label");
    assert.match(label, /^success · slot .* · start .* · took /);
    await page.focus("svg.strip rect.cell[tabindex]");
    await shot(page, "job");
    await page.goBack();
    await page.waitForSelector(".jobs-table");
    assert.equal(new URL(page.url()).hash, "#/jobs");
    await page.goForward();
    await page.waitForSelector("dl.def");
    assert.equal(new URL(page.url()).hash, "#/job/ticker");
    // links between jobs, both ways, beside the definition
    await page.goto(d.url + "/#/job/hello");
    await page.waitForSelector('dl.def .links a[href="#/job/failing"]');
    assert.match(await page.textContent("dl.def"), /On failure runs\s*failing/);
    await page.click('dl.def .links a[href="#/job/failing"]');
    await page.waitForSelector('dl.def .links a[href="#/job/hello"]');
    assert.match(await page.textContent("dl.def"), /Runs on failure of\s*hello/);
  });

  it("runs a job now: log lines appear live, stderr marked, searchable, downloadable", async () => {
    await page.goto(d.url + "/#/job/hello");
    await page.waitForSelector("dl.def");
    const navigations = [];
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
    await page.click("text=Run now");
    await page.waitForFunction(() => location.hash.startsWith("#/execution/"));
    const id = new URL(page.url()).hash.split("/")[2];
    await page.waitForSelector(".log .line .msg >> text=one");
    // "two" and "three" come 2 s later, through the socket
    assert.equal(await page.locator(".log .line").count(), 1);
    await page.waitForSelector(".log .line.stderr .msg >> text=two", { timeout: 15000 });
    await page.waitForSelector(".log .line .msg >> text=three");
    await page.waitForSelector(".badge.st-success");
    assert.equal(navigations.filter((u) => !u.includes("#")).length, 0, "no reload");
    // the order of two pipes is the server's: compare with what it stored
    const msgs = await page.$$eval(".log .line", (ls) => ls.map((l) => [l.querySelector(".stream").textContent, l.querySelector(".msg").textContent]));
    const stored = (await d.api("GET", `/api/execution/${id}/logs`)).logs.map((l) => [l.level === "error" ? "stderr" : "stdout", l.message]);
    assert.deepEqual(msgs, stored);
    assert.deepEqual(msgs.slice().sort(), [["stderr", "two"], ["stdout", "one"], ["stdout", "three"]]);
    assert.match(await page.textContent("main"), /Exit code\s*0/);
    await page.fill("input[name=logq]", "thr");
    assert.equal(await page.locator(".log .line:not([hidden])").count(), 1);
    await shot(page, "execution");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download")]);
    const file = await download.path();
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    assert.equal(lines.length, 3);
    assert.ok(lines.some((l) => /^\d{4}-\d\d-\d\dT\S+Z stderr two$/.test(l)), lines.join("\n"));
    // the deep link survives a reload
    await page.reload();
    await page.waitForSelector(".log .line .msg >> text=three");
    assert.ok(page.url().endsWith("#/execution/" + id));
    const api = await d.api("GET", "/api/execution/" + id);
    assert.equal(api.status, "success");
  });

  it("stops a running execution and shows why", async () => {
    const r = await d.api("POST", "/api/job/sleeper/run");
    await page.goto(d.url + "/#/execution/" + r.executionId);
    await page.waitForSelector(".badge.st-running");
    await page.click("button:has-text('Stop')");
    await page.waitForSelector(".badge.st-stopped", { timeout: 30000 });
    assert.equal((await d.api("GET", "/api/execution/" + r.executionId)).status, "stopped");
  });

  it("disables and enables a job, seen on the list, the job page, the API and another viewer's screen", async () => {
    const other = await ctx.newPage();
    const otherSeen = watch(other);
    await login(other, d.url, "viewer");
    await page.goto(d.url + "/#/jobs");
    await page.waitForSelector('#job-rows [data-name="hello"]');
    await page.click('#job-rows [data-name="hello"] button:has-text("Disable")');
    await page.waitForSelector('#job-rows [data-name="hello"][data-enabled="no"]');
    assert.equal((await d.api("GET", "/api/job/hello")).enabled, false);
    await other.waitForSelector('#job-rows [data-name="hello"][data-enabled="no"]', { timeout: 5000 });
    assert.equal(await other.textContent('#job-rows [data-name="hello"] [data-label="Next run"]'), "—");
    await page.click('a[href="#/job/hello"]');
    await page.waitForSelector("text=disabled");
    await page.click("button:has-text('Enable')");
    await page.waitForSelector(".tag.yes");
    assert.equal((await d.api("GET", "/api/job/hello")).enabled, true);
    await other.waitForSelector('#job-rows [data-name="hello"][data-enabled="yes"]', { timeout: 5000 });
    await page.goBack();
    await page.waitForSelector('#job-rows [data-name="hello"][data-enabled="yes"]');
    assert.deepEqual(otherSeen.limited, []);
    await other.close();
  });

  it("shows a viewer no control it may not use", async () => {
    const v = await ctx.newPage();
    const vs = watch(v);
    await login(v, d.url, "viewer");
    const r = await d.api("POST", "/api/job/sleeper/run");
    const controls = "button:has-text('Run'), button:has-text('Disable'), button:has-text('Enable'), button:has-text('Stop'), button:has-text('Delete'), button:has-text('Reload'), a:has-text('New job'), a:has-text('Edit')";
    for (const hash of ["#/jobs", "#/job/hello", "#/execution/" + r.executionId, "#/scheduler", "#/new", "#/job/hello/edit"]) {
      await v.goto(d.url + "/" + hash);
      await v.waitForSelector("main h1");
      await v.waitForLoadState("networkidle");
      await sleep(300);
      assert.equal(await v.locator(controls).count(), 0, "controls on " + hash);
    }
    await v.goto(d.url + "/#/jobs");
    await v.waitForSelector("#job-rows > [role=row]");
    await shot(v, "jobs-viewer");
    await d.api("POST", "/api/execution/" + r.executionId + "/stop");
    assert.equal(vs.byStatus[403] || 0, 0, "no request the viewer may not make");
    await v.close();
  });

  it("creates a job from the UI, with the API's error beside the field, then edits it", async () => {
    await page.goto(d.url + "/#/jobs");
    await page.click("a:has-text('New job')");
    await page.waitForSelector("form.editor");
    assert.equal(new URL(page.url()).hash, "#/new");
    await page.fill("#f-name", "made-in-ui");
    await page.selectOption("#f-type", "local");
    await page.fill("#f-schedule", "61 * * * *");
    await page.fill("#f-command", "echo made");
    await page.click("button:has-text('Create job')");
    await page.waitForSelector("#e-schedule:not([hidden])");
    assert.match(await page.textContent("#e-schedule"), /61/);
    assert.equal(await page.getAttribute("#f-schedule", "aria-invalid"), "true");
    await shot(page, "editor-error");
    await page.fill("#f-schedule", "@every 1h");
    await page.fill("#f-maxRuntime", "1x");
    await page.click("button:has-text('Create job')");
    await page.waitForSelector("#e-maxRuntime:not([hidden])");
    await page.fill("#f-maxRuntime", "1h30m");
    await page.fill("#f-environment", "A=1\nB=2");
    await page.click("button:has-text('Create job')");
    await page.waitForFunction(() => location.hash === "#/job/made-in-ui");
    await page.waitForSelector("dl.def");
    let j = await d.api("GET", "/api/job/made-in-ui");
    assert.equal(j.origin, "api");
    assert.equal(j.maxRuntime, 5400e9);
    assert.deepEqual(j.environment, ["A=1", "B=2"]);
    // it shows on the list at once
    await page.goto(d.url + "/#/jobs");
    await page.waitForSelector('#job-rows [data-name="made-in-ui"]');
    await page.goto(d.url + "/#/job/made-in-ui");
    await page.click("a:has-text('Edit')");
    await page.waitForSelector("#f-command");
    assert.equal(await page.inputValue("#f-maxRuntime"), "1h30m");
    await page.fill("#f-command", "echo edited");
    await shot(page, "editor");
    await page.click("button:has-text('Save')");
    await page.waitForFunction(() => location.hash === "#/job/made-in-ui");
    await page.waitForSelector("code:has-text('echo edited')");
    j = await d.api("GET", "/api/job/made-in-ui");
    assert.equal(j.command, "echo edited");
    assert.equal(j.maxRuntime, 5400e9, "only the changed key was sent");
    // delete it
    page.once("dialog", (dlg) => dlg.accept());
    await page.click("button:has-text('Delete')");
    await page.waitForFunction(() => location.hash === "#/jobs");
    await page.waitForFunction(() => !document.querySelector('#job-rows [data-name="made-in-ui"]'));
  });

  it("runs the scheduler panel: status, stop, start, masked config", async () => {
    await page.goto(d.url + "/#/scheduler");
    await page.waitForSelector("text=Configuration in force");
    await page.waitForSelector("dt:has-text('smtpPassword')");
    const cfg = await page.textContent("main");
    assert.ok(!cfg.includes("hunter2"), "the SMTP password is masked");
    assert.match(cfg, /\*\*\*\*\*\*\*\*/);
    await page.click("button:has-text('Stop scheduler')");
    await page.waitForSelector("#sched-state.stopped");
    assert.equal((await d.api("GET", "/api/scheduler/status")).running, false);
    await shot(page, "scheduler");
    await page.click("button:has-text('Start scheduler')");
    await page.waitForSelector("button:has-text('Stop scheduler')");
    assert.equal((await d.api("GET", "/api/scheduler/status")).running, true);
  });

  it("switches times to UTC and back", async () => {
    await page.goto(d.url + "/#/job/hello");
    await page.waitForSelector("ol.plain time");
    const iso = await page.getAttribute("ol.plain time", "datetime");
    await page.click("#tz");
    await page.waitForFunction(() => document.querySelector("#tz").textContent.includes("UTC"));
    const shown = await page.textContent("ol.plain time");
    assert.equal(shown, iso.slice(0, 10) + " " + iso.slice(11, 19));
    await page.click("#tz");
    await page.waitForFunction(() => document.querySelector("#tz").textContent.includes("Europe/Berlin"));
  });

  it("is usable at 360 and 420 px and in dark mode, by keyboard", async () => {
    for (const width of [360, 420]) {
      await page.setViewportSize({ width, height: 800 });
      for (const hash of ["#/jobs", "#/job/hello", "#/scheduler"]) {
        await page.goto(d.url + "/" + hash);
        await page.waitForSelector("main h1");
        await sleep(200);
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(sideways <= 0, `${hash} at ${width} px scrolls sideways by ${sideways} px`);
        if (width === 360 && hash === "#/jobs") await shot(page, "jobs-360");
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(d.url + "/#/job/ticker");
    await page.waitForSelector("svg.chart rect.bar");
    await shot(page, "job-dark");
    await page.emulateMedia({ colorScheme: "light" });
    // keyboard: Tab reaches the first job link, Enter opens it
    await page.goto(d.url + "/#/jobs");
    await page.waitForSelector("#job-rows > [role=row]");
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement && document.activeElement.matches("#job-rows a"));
    }
    assert.ok(reached, "a job link is reachable by Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "focus is visible");
    await page.keyboard.press("Enter");
    await page.waitForSelector("dl.def");
  });

  it("made no request that was answered 429, and threw nothing", () => {
    assert.deepEqual(seen.limited, []);
    assert.deepEqual(seen.errors, []);
  });
});

describe("a long session", () => {
  it("follows the socket without a 429, and shows what the API says", async () => {
    const seconds = Number(process.env.OFELIA_UI_SESSION_SECONDS || 60);
    const r = await runSession(seconds, Number(process.env.OFELIA_UI_FAST_JOBS || 10));
    console.log(`# session: ${seconds} s, 200 jobs (${r.fast} every second), ${r.actions} UI actions, ` +
      `${r.requests} API requests from the page, ${r.limited} answered 429 (server's count: ${r.server429})`);
    assert.equal(r.limited, 0);
    assert.equal(r.server429, 0);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.mismatches, []);
  });
});

describe("1,000 jobs", () => {
  it("paints the job list", async () => {
    const jobs = {};
    for (let i = 0; i < 1000; i++) jobs["job-" + String(i).padStart(4, "0")] = { command: "true", schedule: `${i % 60} * * * *` };
    const d = await new Daemon(jobs, "  rate-limit: {requests-per-minute: 1200, burst: 100}\n").start();
    const ctx = await launch();
    try {
      const page = await ctx.newPage();
      const seen = watch(page);
      await login(page, d.url, "admin");
      const times = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(d.url + "/favicon.svg");
        const t0 = Date.now();
        await page.goto(d.url + "/#/jobs");
        await page.waitForFunction(() => performance.getEntriesByName("ofelia:jobs-painted").length > 0, null, { timeout: 30000 });
        const wall = Date.now() - t0;
        await page.waitForSelector("#job-rows[data-complete=yes]");
        const mark = (n) => page.evaluate((m) => Math.round(performance.getEntriesByName(m)[0].startTime), n);
        times.push({ wall, painted: await mark("ofelia:jobs-painted"), complete: await mark("ofelia:jobs-complete") });
      }
      assert.equal((await listState(page)).length, 1000);
      console.log("# 1000 jobs, from navigation start: first paint of the list " + times.map((t) => `${t.painted} ms (${t.wall} ms wall)`).join(", ") +
        "; all 1000 rows in the page " + times.map((t) => `${t.complete} ms`).join(", "));
      await shot(page, "jobs-1000", false);
      assert.deepEqual(seen.limited, []);
    } finally {
      await closeBrowser(ctx);
      await d.stop();
      d.cleanup();
    }
  });
});

process.on("exit", () => console.log("# screenshots in " + SHOTS));
