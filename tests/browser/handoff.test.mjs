// Scenario 2 of issue 8 in one test, both faces in real Chromium against a real `madoguchi serve`
// (real model): the customer, in the real widget, gives an order number and then complains → the
// widget shows the handoff notice with the queue position → an agent, logged in in a second
// browser context, sees the ticket appear live, reads the summary (with that order number), claims
// and replies → the widget shows the reply within 2 s → the agent resolves → the widget asks for
// CSAT, the customer gives 4 with a comment → the conversation has it (read back through the API).
// On the way, the transcript's `handoff` (the open ticket's state) is checked through the API, and
// a reload while waiting and while with the agent shows the same notice again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startServer } from './lib/harness.mjs';

const AGENT = { name: 'yuki', password: 'browser-test-password', display: '佐藤 由紀' };
const ORDER = 'MD20261202';
const REPLY = 'お待たせしました。ご注文の配送状況をお調べします。';

const launcher = (page) => page.getByRole('button', { name: /チャット/ });
const textbox = (page) => page.getByRole('textbox', { name: 'メッセージ' });
const log = (page) => page.getByRole('log');

/** Types `text`, presses Enter, waits for the next message of `role` the server sent. */
async function say(page, text, role = 'bot') {
  const before = await log(page).locator(`[data-role=${role}][data-id]`).count();
  await textbox(page).fill(text);
  await textbox(page).press('Enter');
  await log(page).locator(`[data-role=${role}][data-id]`).nth(before).waitFor({ timeout: 15_000 });
}

async function agentLogsIn(browser, base) {
  const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 900 } });
  // Counts the new-ticket chimes (each is one oscillator).
  await context.addInitScript(() => {
    window.__tones = 0;
    const create = AudioContext.prototype.createOscillator;
    AudioContext.prototype.createOscillator = function () { window.__tones += 1; return create.call(this); };
  });
  const page = await context.newPage();
  await page.goto(`${base}/agent/login?lang=ja`);
  await page.getByLabel('ユーザー名').fill(AGENT.name);
  await page.getByLabel('パスワード').fill(AGENT.password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  await page.waitForURL(`${base}/agent`);
  await page.getByRole('tab', { name: '待機中' }).waitFor();
  return page;
}

test('2. complaint → handoff notice with position → agent claims and replies live (≤ 2 s) → resolve → CSAT 4 stored', async () => {
  const server = await startServer();
  server.addAccount(AGENT.name, 'agent', AGENT.display);
  const browser = await launchBrowser();
  try {
    const agent = await agentLogsIn(browser, server.base);
    await agent.locator('.tickets .empty').waitFor();
    await agent.keyboard.press('Shift'); // a user gesture: browsers allow sound only after one

    // The customer, in the widget on the demo shop.
    const customer = await (await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 800 } })).newPage();
    customer.on('pageerror', (e) => console.error('page error:', e.message));
    await customer.goto(`${server.base}/`);
    await launcher(customer).click();
    await say(customer, `注文番号 ${ORDER} の商品がまだ届きません`);
    await say(customer, 'こんなひどい対応は初めてです');

    // Honest handoff: the notice says the customer waits for a person, and where in the queue.
    const notice = customer.getByRole('dialog').getByRole('status').filter({ hasText: /1番目にお待ちいただいています/ });
    await notice.waitFor({ timeout: 5_000 });
    const { id, token } = JSON.parse(await customer.evaluate(
      (base) => localStorage.getItem(`madoguchi:conversation:${base}`), server.base));
    const transcript = async () => {
      const r = await fetch(`${server.base}/v1/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      return r.json();
    };

    // The transcript carries the open ticket's state, and a reload shows the same notice again.
    const waiting = (await transcript()).handoff;
    assert.equal(waiting.status, 'waiting');
    assert.equal(waiting.position, 1);
    assert.equal(waiting.agent_id, null);
    assert.equal(typeof waiting.expected_wait.open_now, 'boolean');
    if (!waiting.expected_wait.open_now) assert.ok(waiting.expected_wait.next_open, 'business hours when nobody is on shift');
    await screenshot(customer, 'handoff-widget-waiting');
    await customer.reload();
    await launcher(customer).click();
    await notice.waitFor({ timeout: 5_000 });

    // The agent's queue shows the ticket without a reload; the summary has the order number.
    const item = agent.locator('.ticket-item').first();
    await item.waitFor({ timeout: 10_000 });
    await agent.waitForFunction(() => window.__tones === 1, null, { timeout: 2_000 });
    assert.equal(await item.locator('.reason').innerText(), '苦情', 'the reason in words, not its code');
    assert.equal(await item.locator('.tag').innerText(), '日本語');
    await item.click();
    const summary = agent.locator('.summary');
    await summary.waitFor();
    assert.match(await summary.innerText(), new RegExp(ORDER));
    await agent.getByRole('button', { name: '担当する' }).click();
    await agent.locator('.ticket-status', { hasText: '対応中' }).waitFor();
    // The widget names the person who joined, live and again after a reload.
    const joined = customer.getByText(`担当の${AGENT.display}がご対応します`);
    await joined.waitFor({ timeout: 5_000 });
    const claimed = (await transcript()).handoff;
    assert.deepEqual([claimed.status, claimed.agent_id, claimed.agent_name], ['claimed', AGENT.name, AGENT.display]);
    await customer.reload();
    await launcher(customer).click();
    await joined.waitFor({ timeout: 5_000 });

    // The reply reaches the widget within 2 s of pressing Send.
    await agent.getByLabel('返信').fill(REPLY);
    const sent = Date.now();
    await agent.getByRole('button', { name: '送信', exact: true }).click();
    await log(customer).locator('[data-role=agent]').getByText(REPLY).waitFor({ timeout: 2_000 });
    const shownAfter = Date.now() - sent;
    console.log(`agent reply shown in the widget ${shownAfter} ms after Send`);
    assert.ok(shownAfter <= 2_000, `${shownAfter} ms`);
    await screenshot(customer, 'handoff-widget-agent-reply');

    // The agent resolves; the widget asks for CSAT; 4 with a comment is stored.
    await agent.locator('#resolve').click();
    await agent.locator('#confirm-resolve').click();
    const csat = customer.getByRole('group', { name: '今回の対応はいかがでしたか？' });
    await csat.waitFor({ timeout: 5_000 });
    await csat.getByRole('radio', { name: /^4/ }).check();
    await customer.getByRole('textbox', { name: 'コメント（任意）' }).fill('丁寧に対応してもらえました');
    await customer.getByRole('button', { name: '評価を送る' }).click();
    await customer.getByText('ご評価ありがとうございました。').waitFor();
    const stored = await transcript();
    assert.equal(stored.handoff, null, 'no open ticket once resolved');
    assert.equal(stored.status, 'resolved');
    assert.equal(stored.csat_score, 4);
    assert.equal(stored.csat_comment, '丁寧に対応してもらえました');
    assert.ok(stored.messages.some((m) => m.role === 'agent' && m.text === REPLY && m.agent_id === AGENT.name));
  } catch (e) {
    console.error(server.log());
    throw e;
  } finally {
    await browser.close();
    await server.stop();
  }
});
