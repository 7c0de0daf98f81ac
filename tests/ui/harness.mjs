// What the browser tests share: the real daemon (OFELIA_BIN, the sanitizer
// build under `make test`) with auth on, an admin and a viewer made with
// `ofelia hash-password`, on 127.0.0.1 and a port of its own; Debian's
// Chromium driven by playwright-core; the test's own API calls; screenshots.
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
export const BIN = process.env.OFELIA_BIN || path.join(ROOT, "build", "asan", "ofelia");
export const CHROMIUM = process.env.OFELIA_CHROMIUM || "/usr/bin/chromium";
export const SHOTS = process.env.OFELIA_UI_SHOTS || path.join(ROOT, process.env.BUILD || "build", "ui-screenshots");
export const SECRET = "ui-test-secret-0123456789abcdef012345";
export const USERS = { admin: "admin-pass-1", viewer: "viewer-pass-2" };

// The test's own requests come "through" a trusted proxy as another client,
// so they never spend the browser's rate-limit allowance (127.0.0.1's).
const TEST_CLIENT = "192.0.2.10";

const hashes = {};
function hashPassword(pw) {
  if (!hashes[pw]) hashes[pw] = execFileSync(BIN, ["hash-password", "--bcrypt"], { input: pw + "\n" }).toString().trim();
  return hashes[pw];
}

// jobsYaml makes the jobs: `slow` hourly ones, `fast` every second.
export function jobsYaml(jobs) {
  let out = "jobs:\n";
  for (const [name, j] of Object.entries(jobs)) {
    out += `  ${JSON.stringify(name)}:\n    type: ${j.type || "local"}\n    schedule: ${JSON.stringify(j.schedule || "@every 1h")}\n    command: ${JSON.stringify(j.command || "true")}\n`;
    if (j.enabled === false) out += "    enabled: false\n";
    if (j.noOverlap) out += "    no-overlap: true\n";
    if (j.onFailure) out += `    on-failure: ${JSON.stringify(j.onFailure)}\n`;
  }
  return out;
}

export class Daemon {
  // web: extra keys under web: (e.g. a rate limit), two spaces in.
  constructor(jobs, web = "") {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "ofelia-ui-"));
    this.config = path.join(this.dir, "ofelia.yaml");
    fs.writeFileSync(this.config, `global:
  smtp-password: hunter2
  max-concurrent: 8
web:
${web}  auth:
    enabled: true
    secret: ${SECRET}
    token-expiry: 1h
    users:
      - {username: admin, password-hash: '${hashPassword(USERS.admin)}', role: admin}
      - {username: viewer, password-hash: '${hashPassword(USERS.viewer)}', role: viewer}
  trusted-proxies: [127.0.0.1]
${jobsYaml(jobs)}`);
  }

  async start() {
    this.logPath = path.join(this.dir, "daemon.log");
    const log = fs.openSync(this.logPath, "w");
    this.proc = spawn(BIN, ["daemon", "--config", this.config, "--db", path.join(this.dir, "ofelia.db"),
      "--enable-web", "--web-address", "127.0.0.1:0"], { stdio: ["ignore", log, log], cwd: this.dir });
    fs.closeSync(log);
    const deadline = Date.now() + 60000;
    for (;;) {
      const m = fs.readFileSync(this.logPath, "utf8").match(/msg=listening address=127\.0\.0\.1:(\d+)/);
      if (m) {
        this.url = "http://127.0.0.1:" + m[1];
        break;
      }
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error("daemon did not start:\n" + this.log());
      await sleep(50);
    }
    this.adminToken = (await this.api("POST", "/api/login", { username: "admin", password: USERS.admin })).token;
    return this;
  }

  log() {
    return fs.readFileSync(this.logPath, "utf8");
  }

  // api: the test's own request, as the admin unless told otherwise.
  async api(method, p, body, tok) {
    const headers = { "X-Forwarded-For": TEST_CLIENT };
    const t = tok === undefined ? this.adminToken : tok;
    if (t) headers.Authorization = "Bearer " + t;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc ? this.proc.exitCode : null;
    const done = new Promise((r) => this.proc.once("exit", (code) => r(code)));
    this.proc.kill("SIGTERM");
    const code = await Promise.race([done, sleep(30000).then(() => "timeout")]);
    if (code === "timeout") {
      this.proc.kill("SIGKILL");
      throw new Error("daemon did not stop in 30 s");
    }
    return code;
  }

  cleanup() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// token makes a JWT with our key, as the server would (for expired ones).
export function makeToken(claims) {
  const b64u = (b) => Buffer.from(b).toString("base64url");
  const head = b64u(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.createHmac("sha256", SECRET).update(head + "." + body).digest("base64url");
  return head + "." + body + "." + sig;
}

export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ofelia-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    timezoneId: "Europe/Berlin",
  });
  context.profile = profile;
  return context;
}

export async function closeBrowser(context) {
  if (!context) return;
  await context.close();
  fs.rmSync(context.profile, { recursive: true, force: true });
}

// watch counts a page's API answers by status, and keeps any 429.
export function watch(page) {
  const seen = { requests: 0, byStatus: {}, limited: [], errors: [] };
  page.on("response", (r) => {
    if (!new URL(r.url()).pathname.startsWith("/api/")) return;
    seen.requests++;
    seen.byStatus[r.status()] = (seen.byStatus[r.status()] || 0) + 1;
    if (r.status() === 429) seen.limited.push(r.url());
  });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  return seen;
}

export async function login(page, url, user) {
  await page.goto(url + "/#/jobs");
  await page.waitForSelector("form.login");
  await page.fill("#username", user);
  await page.fill("#password", USERS[user]);
  await page.click("form.login button[type=submit]");
  await page.waitForSelector("#job-rows > [role=row]");
}

// shot saves the whole page, or only the window when it is very long.
export async function shot(page, name, fullPage = true) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage });
}

// listState reads what the job list shows, row by row.
export async function listState(page) {
  await page.waitForSelector("#job-rows[data-complete=yes]");
  return page.$$eval("#job-rows > [role=row]", (trs) => trs.map((tr) => ({
    name: tr.dataset.name, status: tr.dataset.status, enabled: tr.dataset.enabled,
    next: tr.dataset.next, last: tr.dataset.last,
  })));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// uiBytes is the size of the UI's files, raw and gzipped (what the binary
// embeds: src/http/ui).
export async function uiBytes() {
  const zlib = await import("node:zlib");
  const dir = path.join(ROOT, "src", "http", "ui");
  let raw = 0, gz = 0;
  for (const f of fs.readdirSync(dir)) {
    const data = fs.readFileSync(path.join(dir, f));
    raw += data.length;
    gz += zlib.gzipSync(data, { level: 9 }).length;
  }
  return { raw, gz };
}
