// The agent console in real Chromium against a real `madoguchi serve` (real model):
// a customer hands off after giving an order number; an agent (second browser context) sees the
// ticket appear live, reads the summary, claims, replies (the customer has it within 2 s) and
// resolves; customer and agent texts with HTML render as text; axe-core on login, queue and
// ticket view; an agent session gets 403 on admin endpoints, no session redirects to the login
// page, a missing CSRF token is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, AGENT_KEY, launchBrowser, screenshot, seriousA11yViolations, startServer } from './lib/harness.mjs';

const AGENT = { name: 'yuki', password: 'yuki-password-1', display: '佐藤 由紀' };
const XSS_CUSTOMER = '<img src=x onerror="window.__xss = 1">';
const XSS_AGENT = '<b>お待たせしました</b><img src=x onerror="window.__xss = 2">';

async function customerConversation(base) {
  const r = await fetch(`${base}/v1/conversations`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ locale: 'ja', customer: { name: '山田 花子' } }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  const { id, token } = await r.json();
  const say = async (text) => {
    const m = await fetch(`${base}/v1/conversations/${id}/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ text }),
    });
    assert.equal(m.status, 200, await m.clone().text());
    return m.json();
  };
  const transcript = async () => {
    const t = await fetch(`${base}/v1/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } });
    return t.json();
  };
  return { id, say, transcript };
}

async function logIn(context, base, name, password) {
  const page = await context.newPage();
  await page.goto(`${base}/agent/login?lang=ja`);
  await page.getByLabel('ユーザー名').fill(name);
  await page.getByLabel('パスワード').fill(password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  await page.waitForURL(`${base}/agent`);
  await page.getByRole('tab', { name: '待機中' }).waitFor();
  return page;
}

/** fetch from inside the page (its cookie), with or without the CSRF token. */
function pageFetch(page, path, { method = 'GET', body, csrf = true } = {}) {
  return page.evaluate(async ({ path, method, body, csrf }) => {
    const headers = { 'content-type': 'application/json' };
    if (csrf) headers['x-csrf-token'] = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
    return { status: r.status, text: await r.text() };
  }, { path, method, body, csrf });
}

test('an agent works a handed-off ticket live; texts render as text; roles and CSRF hold', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    // The admin (first-start account) adds an agent. (bypassCSP only lets axe-core be injected;
    // the XSS checks below then prove textContent alone keeps the payloads inert.)
    const adminContext = await browser.newContext({ locale: 'ja-JP', bypassCSP: true });
    const login = await adminContext.newPage();
    await login.goto(`${server.base}/agent/login`);
    assert.deepEqual(await seriousA11yViolations(login), [], 'login page');
    await screenshot(login, 'console-login');
    const admin = await logIn(adminContext, server.base, 'admin', ADMIN_PASSWORD);
    const added = await pageFetch(admin, '/agent/api/users', {
      method: 'POST', body: { name: AGENT.name, role: 'agent', display_name: AGENT.display, password: AGENT.password },
    });
    assert.equal(added.status, 200, added.text);

    // The agent logs in (second context) and waits on the queue.
    const agentContext = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const agent = await logIn(agentContext, server.base, AGENT.name, AGENT.password);
    assert.equal(await agent.locator('.ticket-item').count(), 0);

    // The customer gives an order number, then asks for a person.
    const customer = await customerConversation(server.base);
    await customer.say('注文番号 MD12345678 の商品が届きません');
    const handoff = await customer.say('担当者と話したい');
    assert.ok(handoff.handoff || handoff.status === 'handoff' || JSON.stringify(handoff).includes('handoff'), JSON.stringify(handoff));
    await customer.say(XSS_CUSTOMER);

    // The ticket appears live, without a reload.
    const item = agent.locator('.ticket-item').first();
    await item.waitFor({ timeout: 10_000 });
    const ticketId = await item.getAttribute('data-ticket');
    assert.match(await agent.title(), /\(1\)/, 'the title shows the waiting count');
    assert.deepEqual(await seriousA11yViolations(agent), [], 'queue');
    await screenshot(agent, 'console-queue');
    await item.click();
    const summary = agent.locator('.summary');
    await summary.waitFor();
    assert.match(await summary.innerText(), /MD12345678/);

    await agent.getByRole('button', { name: '担当する' }).click();
    await agent.locator('.ticket-status', { hasText: '対応中' }).waitFor();
    const reply = agent.getByLabel('返信');
    await reply.waitFor();
    await reply.fill(XSS_AGENT);
    const sent = Date.now();
    await agent.getByRole('button', { name: '送信', exact: true }).click();
    for (;;) {
      const t = await customer.transcript();
      const messages = t.messages ?? [];
      if (messages.some((m) => m.role === 'agent' && m.text === XSS_AGENT)) break;
      assert.ok(Date.now() - sent < 2000, 'the customer has the reply within 2 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    // Every text is shown as text: the payloads are visible, nothing ran, no <img> was made.
    const log = agent.locator('.messages');
    await log.getByText(XSS_AGENT, { exact: true }).waitFor();
    await log.getByText(XSS_CUSTOMER, { exact: true }).waitFor();
    assert.equal(await agent.locator('.messages img, .summary img').count(), 0);
    assert.equal(await agent.evaluate(() => window.__xss), undefined);
    assert.deepEqual(await seriousA11yViolations(agent), [], 'ticket view');
    await screenshot(agent, 'console-ticket');

    // Authorization: an agent is not an admin; no CSRF token, no change.
    assert.equal((await pageFetch(agent, '/agent/api/users')).status, 403);
    const noCsrf = await pageFetch(agent, `/agent/api/tickets/${ticketId}/notes`, { method: 'POST', body: { text: 'x' }, csrf: false });
    assert.equal(noCsrf.status, 403, noCsrf.text);

    // Resolve, with the confirmation.
    await agent.keyboard.press('Escape');
    await agent.locator('body').click({ position: { x: 5, y: 5 } });
    await agent.keyboard.press('e');
    await agent.locator('#confirm-resolve').click();
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await fetch(`${server.base}/v1/handoffs/${ticketId}`, { headers: { authorization: `Bearer ${AGENT_KEY}` } });
      const t = await r.json();
      if (t.status === 'resolved') { assert.equal(t.claimed_by, AGENT.name); break; }
      assert.ok(Date.now() < deadline, JSON.stringify(t));
      await new Promise((r) => setTimeout(r, 100));
    }

    // No session: the console redirects to the login page, the JSON API answers 401.
    const anonymous = await (await browser.newContext()).newPage();
    await anonymous.goto(`${server.base}/agent`);
    assert.match(anonymous.url(), /\/agent\/login$/);
    const r = await fetch(`${server.base}/agent/api/tickets`);
    assert.equal(r.status, 401);
  } catch (e) {
    console.error(server.log());
    throw e;
  } finally {
    await browser.close();
    await server.stop();
  }
});
