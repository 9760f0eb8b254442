// The KPI dashboard in real Chromium against a real `madoguchi serve` (real model): customers
// chat (answered, out of scope, handed off, rated), an agent resolves a ticket, then a lead opens
// the studio's Dashboard tab (`/studio#dashboard`): the KPI cards and SVG charts render with the data, a table view and CSV
// links exist, intents and handoff reasons are named in words, an empty range says "no data", axe-core finds nothing serious; an agent is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, seriousA11yViolations, startServer } from './lib/harness.mjs';

const PASSWORD = 'browser-test-password';

async function conversation(base, locale) {
  const r = await fetch(`${base}/v1/conversations`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ locale }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  const { id, token } = await r.json();
  const auth = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  return {
    id,
    say: async (text) => {
      const m = await fetch(`${base}/v1/conversations/${id}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ text }) });
      assert.equal(m.status, 200, await m.clone().text());
      return m.json();
    },
    feedback: (messageId, helpful) => fetch(`${base}/v1/conversations/${id}/messages/${messageId}/feedback`, { method: 'POST', headers: auth, body: JSON.stringify({ helpful }) }),
    csat: (score) => fetch(`${base}/v1/conversations/${id}/csat`, { method: 'POST', headers: auth, body: JSON.stringify({ score }) }),
    end: () => fetch(`${base}/v1/conversations/${id}/end`, { method: 'POST', headers: auth, body: '{}' }),
  };
}

async function logIn(browser, base, name) {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 1000 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${base}/agent/login?lang=en`);
  await page.locator('#username').fill(name);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('button[type="submit"]').click();
  await page.waitForURL(`${base}/agent`);
  return page;
}

test('a lead sees the KPI charts with data; an agent is refused', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    server.addAccount('lena', 'lead');
    server.addAccount('andy', 'agent');
    for (const [text, score] of [['注文した商品はいつ届きますか', 5], ['返品したいです', 4], ['パスワードを忘れました', 2]]) {
      const c = await conversation(server.base, 'ja');
      const turn = await c.say(text);
      if (turn.reply_id) await c.feedback(turn.reply_id, score > 3);
      await c.csat(score);
      await c.end();
    }
    const oos = await conversation(server.base, 'ja');
    await oos.say('今日の天気はどうですか');
    const handed = await conversation(server.base, 'ja');
    const turn = await handed.say('担当者と話したいです');

    // The agent claims the ticket, answers and resolves it (times to first response, handle, wait).
    const agent = await logIn(browser, server.base, 'andy');
    const ticket = turn.handoff?.ticket_id;
    assert.ok(ticket, `a handoff: ${JSON.stringify(turn)}`);
    for (const [action, body] of [['claim', {}], ['reply', { text: 'お待たせしました' }], ['resolve', { resolution_code: 'answered' }]]) {
      const status = await agent.evaluate(async ({ ticket, action, body }) => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch(`/agent/api/tickets/${ticket}/${action}`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body),
        });
        return r.status;
      }, { ticket, action, body });
      assert.equal(status, 200, `${action}`);
    }
    const refused = await agent.goto(`${server.base}/studio#dashboard`);
    assert.equal(refused.status(), 403);
    const api = await agent.evaluate(async () => (await fetch('/studio/api/kpis')).status);
    assert.equal(api, 403);

    const lead = await logIn(browser, server.base, 'lena');
    await lead.goto(`${server.base}/studio#dashboard`);
    await lead.locator('.kpi-card').first().waitFor();
    const conversations = await lead.locator('.kpi-card-value').first().textContent();
    assert.equal(conversations, '5');
    // The per-day chart is drawn: stacked rects, one title per segment.
    const perDay = lead.locator('[data-kpi="per-day"] svg rect');
    assert.ok(await perDay.count() >= 1, 'per-day bars');
    assert.ok(await lead.locator('[data-kpi="durations"] svg rect').count() >= 6, 'duration bars');
    assert.ok(await lead.locator('[data-kpi="csat"] svg rect').count() === 5, 'CSAT bars');
    // Table view of the CSAT distribution.
    await lead.locator('[data-kpi="csat"] button').click();
    const rows = await lead.locator('[data-kpi="csat"] table tbody tr').allTextContents();
    assert.equal(rows.length, 5);
    assert.ok(await lead.locator('[data-kpi="csat"] a[href^="/studio/api/kpis/csat.csv?"]').count() === 1);
    await lead.locator('[data-kpi="csat"] button').click();
    // Intents and handoff reasons in words (the catalog's labels, the console's reason names), not codes.
    const legend = await lead.locator('[data-kpi="per-day"] .kpi-legend').textContent();
    assert.match(legend, /Order status/, legend);
    assert.doesNotMatch(legend, /order_status|password_reset|return_request|human_agent/, legend);
    const reasons = await lead.locator('[data-kpi="reasons"] svg').textContent();
    assert.match(reasons, /Asked for a person/, reasons);
    assert.doesNotMatch(reasons, /explicit_request/, reasons);
    assert.deepEqual(await seriousA11yViolations(lead), [], 'dashboard');
    await screenshot(lead, 'studio-dashboard');
    await lead.setViewportSize({ width: 800, height: 1000 });
    await screenshot(lead, 'studio-dashboard-800');

    // An empty range: "no data", no charts.
    await lead.locator('#kpi-from').fill('2001-01-01');
    await lead.locator('#kpi-to').fill('2001-01-31');
    await lead.locator('.kpi-filters button[type="submit"]').click();
    await lead.locator('.kpi-empty').first().waitFor();
    assert.equal(await lead.locator('.kpi-chart').count(), 0);
  } finally {
    await browser.close();
    await server.stop();
  }
});
