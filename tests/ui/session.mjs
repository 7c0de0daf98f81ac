// A session as an operator has it: 200 jobs, `fast` of them firing every
// second, the page open for `seconds` while someone browses, searches, opens
// jobs and runs, runs and toggles jobs. The server's default rate limit
// (100 a minute, bursts of 10) is in force. At the end the scheduler is
// stopped and what the list shows is compared with GET /api/jobs.
import { Daemon, launch, closeBrowser, login, watch, listState, sleep } from "./harness.mjs";

export async function runSession(seconds, fast) {
  const jobs = {};
  for (let i = 0; i < 200; i++) {
    const name = (i < fast ? "fast-" : "slow-") + String(i).padStart(3, "0");
    jobs[name] = i < fast
      ? { command: i % 5 === 4 ? "sh -c 'echo oops >&2; exit 1'" : "echo tick", schedule: "@every 1s" }
      : { command: "sh -c 'echo run; sleep 1; echo done'", schedule: `${i % 60} ${i % 24} * * *` };
  }
  const d = await new Daemon(jobs).start();
  const ctx = await launch();
  const out = { fast, actions: 0, requests: 0, limited: 0, server429: 0, errors: [], mismatches: [] };
  try {
    const page = await ctx.newPage();
    const seen = watch(page);
    await login(page, d.url, "admin");
    const end = Date.now() + seconds * 1000;
    const fastName = (n) => "fast-" + String(n % fast).padStart(3, "0");
    const slowName = (n) => "slow-" + String(fast + (n % (200 - fast))).padStart(3, "0");
    const steps = [
      async () => { await page.click("nav a[href='#/jobs']"); await page.waitForSelector("#job-rows > [role=row]"); },
      async () => { await page.fill("input[name=q]", "fast"); await sleep(500); await page.fill("input[name=q]", ""); },
      async (n) => { await page.goto(d.url + "/#/job/" + fastName(n)); await page.waitForSelector("svg.chart"); },
      async () => {
        const cell = page.locator("svg.strip rect.cell[tabindex]").last();
        if (await cell.count()) { await cell.click(); await sleep(500); }
      },
      async () => { await page.goBack(); await page.waitForSelector("main h1"); },
      async (n) => {
        await page.goto(d.url + "/#/job/" + slowName(n));
        await page.waitForSelector("dl.def");
        await page.click("text=Run now");
        await page.waitForSelector(".log .line .msg >> text=done", { timeout: 20000 });
      },
      async (n) => {
        const name = slowName(n + 7);
        await page.goto(d.url + "/#/jobs");
        await page.waitForSelector(`#job-rows [data-name="${name}"]`);
        await page.click(`#job-rows [data-name="${name}"] button:has-text("Disable")`);
        await page.waitForSelector(`#job-rows [data-name="${name}"][data-enabled="no"]`);
        await page.click(`#job-rows [data-name="${name}"] button:has-text("Enable")`);
        await page.waitForSelector(`#job-rows [data-name="${name}"][data-enabled="yes"]`);
      },
      async () => { await page.click("nav a[href='#/scheduler']"); await page.waitForSelector("text=Configuration in force"); },
      async () => { await page.click("#tz"); await sleep(300); await page.click("#tz"); },
      async () => { await page.selectOption("select[name=sort]", "next").catch(() => {}); },
    ];
    for (let n = 0; Date.now() < end; n++) {
      await steps[n % steps.length](n);
      out.actions++;
      // about one action every 4 s, as a person reading the screen
      await sleep(Math.min(4000, Math.max(0, end - Date.now())));
    }

    // Compare with the API once nothing moves but the fast jobs' skipped slots.
    await page.goto(d.url + "/#/jobs");
    await page.waitForSelector("#job-rows > [role=row]");
    await d.api("POST", "/api/scheduler/stop");
    for (let i = 0; i < 60 && (await d.api("GET", "/api/scheduler/status")).runningJobs > 0; i++) await sleep(500);
    await sleep(1500);
    const api = new Map((await d.api("GET", "/api/jobs")).jobs.map((j) => [j.name, j]));
    const shown = await listState(page);
    if (shown.length !== api.size) out.mismatches.push(`${shown.length} rows for ${api.size} jobs`);
    for (const row of shown) {
      const j = api.get(row.name);
      if (!j) { out.mismatches.push("unknown row " + row.name); continue; }
      const want = { status: j.status || "none", enabled: j.enabled ? "yes" : "no", last: j.lastRun || "" };
      for (const k of Object.keys(want)) if (row[k] !== want[k]) out.mismatches.push(`${row.name} ${k}: shows ${row[k]}, API ${want[k]}`);
      // a stopped scheduler records the fast jobs' slots as skipped: their
      // next run moves every second
      const drift = Math.abs(Date.parse(row.next || 0) - Date.parse(j.nextRun || 0));
      if (row.name.startsWith("slow") ? row.next !== (j.nextRun || "") : drift > 2000) {
        out.mismatches.push(`${row.name} next: shows ${row.next}, API ${j.nextRun}`);
      }
    }
    await d.api("POST", "/api/scheduler/start");
    out.requests = seen.requests;
    out.limited = seen.limited.length;
    out.errors = seen.errors;
    const metrics = await (await fetch(d.url + "/metrics")).text();
    for (const m of metrics.matchAll(/^ofelia_http_requests_total\{[^}]*code="429"[^}]*\} (\d+)/gm)) out.server429 += Number(m[1]);
  } finally {
    await closeBrowser(ctx);
    await d.stop();
    d.cleanup();
  }
  return out;
}
