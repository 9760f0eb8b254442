// Shared helpers of the browser tests: a real `madoguchi serve` on a loopback port (temporary
// SQLite database, the model trained by scripts/browser-tests.sh), Debian's Chromium through
// playwright-core, screenshots, and axe-core.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const REPO = resolve(import.meta.dirname, '..', '..', '..');
export const SCREENSHOTS = join(REPO, 'target', 'test-output', 'screenshots');
export const AGENT_KEY = 'browser-test-agent-key';
export const ADMIN_PASSWORD = 'browser-test-admin-password';

/**
 * Starts `madoguchi serve` on 127.0.0.1:0 and waits until /readyz says ready.
 * `env` adds environment variables (e.g. MADOGUCHI_ALLOWED_ORIGINS).
 * Returns { base, stop(), log() }.
 */
export async function startServer({ env = {} } = {}) {
  const bin = process.env.MADOGUCHI_BIN ?? join(REPO, 'target', 'debug', 'madoguchi');
  const workspace = process.env.MADOGUCHI_TEST_WORKSPACE ?? join(REPO, 'target', 'browser-test-workspace');
  const dir = mkdtempSync(join(tmpdir(), 'madoguchi-browser-'));
  const child = spawn(
    bin,
    ['serve', '--bind', '127.0.0.1:0', '--database', `sqlite://${join(dir, 'madoguchi.db')}`],
    {
      cwd: REPO,
      env: {
        ...process.env,
        MADOGUCHI_MODELS: join(workspace, 'models'),
        MADOGUCHI_AGENT_KEY: AGENT_KEY,
        MADOGUCHI_ADMIN_PASSWORD: ADMIN_PASSWORD,
        MADOGUCHI_LOG: 'info',
        HF_HUB_OFFLINE: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines = [];
  const base = await new Promise((resolveBase, reject) => {
    const rl = createInterface({ input: child.stderr });
    rl.on('line', (line) => {
      lines.push(line);
      const m = line.match(/^madoguchi: listening on (http:\/\/\S+)/);
      if (m) resolveBase(m[1]);
    });
    child.stdout.on('data', (d) => lines.push(String(d)));
    child.on('exit', (code) => reject(new Error(`serve exited (${code}):\n${lines.join('\n')}`)));
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await fetch(`${base}/readyz`).catch(() => null);
    if (r?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`never ready:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const database = `sqlite://${join(dir, 'madoguchi.db')}`;
  return {
    base,
    database,
    /** Adds a console account (agent actions are attributed to real accounts); password browser-test-password. */
    addAccount: (name, role = 'agent', displayName = undefined) => {
      const named = displayName ? ['--display-name', displayName] : [];
      const r = spawnSync(bin, ['user', 'add', name, '--role', role, ...named, '--database', database], {
        cwd: REPO,
        input: 'browser-test-password\n',
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`user add ${name}: ${r.stderr}`);
    },
    log: () => lines.join('\n'),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Debian Chromium (CHROMIUM overrides the path). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
}

/** Saves a full-page screenshot as target/test-output/screenshots/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Runs axe-core in the page (or inside `context`, e.g. a frame) and returns the violations
 * whose impact is serious or critical.
 */
export async function seriousA11yViolations(page, { include } = {}) {
  const source = readFileSync(join(import.meta.dirname, '..', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  const results = await page.evaluate(async (include) => {
    // eslint-disable-next-line no-undef
    return await axe.run(include ? { include } : document, { resultTypes: ['violations'] });
  }, include ?? null);
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A new English conversation over the API; returns `say(text)`, which sends a message and
 * returns the turn (asserting 201 and 200). */
export async function customer(base) {
  const r = await fetch(`${base}/v1/conversations`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ locale: 'en' }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  const { id, token } = await r.json();
  return async (text) => {
    const m = await fetch(`${base}/v1/conversations/${id}/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ text }),
    });
    assert.equal(m.status, 200, await m.clone().text());
    return m.json();
  };
}
