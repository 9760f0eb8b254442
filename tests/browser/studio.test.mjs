// The studio in real Chromium against a real `madoguchi serve` (real model) on a copy of the
// catalog: a lead logs in (coming back to /studio), opens the inbox, labels a group of
// near-duplicates out of scope (the training file gets the lines), opens an intent and edits a template with
// the live preview, uses "try it"; an agent is refused. Screenshots of the inbox and the editor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, customer, launchBrowser, screenshot, startServer } from './lib/harness.mjs';

const PASSWORD = 'browser-test-password';

async function logIn(context, base, name) {
  const page = await context.newPage();
  await page.goto(`${base}/studio`);
  await page.waitForURL(/\/agent\/login\?next=/);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  return page;
}

test('a lead labels an inbox group, edits a template with live preview and tries a message; an agent is refused', { timeout: 600_000 }, async () => {
  const workspace = mkdtempSync(join(tmpdir(), 'madoguchi-studio-'));
  cpSync(join(REPO, 'intents'), join(workspace, 'intents'), { recursive: true });
  cpSync(join(REPO, 'training-data'), join(workspace, 'training-data'), { recursive: true });
  const server = await startServer({
    env: { MADOGUCHI_INTENTS: join(workspace, 'intents'), MADOGUCHI_TRAINING_DATA: join(workspace, 'training-data') },
  });
  const browser = await launchBrowser();
  try {
    server.addAccount('lena', 'lead');
    server.addAccount('aki', 'agent');
    // Three near-duplicate questions the bot cannot help with, in three conversations.
    const questions = ['Can you recommend a good ramen restaurant near Shibuya?', 'can you recommend a good ramen restaurant near shibuya', 'Could you recommend a good ramen restaurant near Shibuya?'];
    for (const q of questions) await (await customer(server.base))(q);

    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
    const page = await logIn(context, server.base, 'lena');
    await page.waitForURL(`${server.base}/studio`);
    await page.getByRole('tab', { name: 'Inbox' }).waitFor();
    const group = page.locator('.group').filter({ hasText: 'ramen' }).first();
    await group.waitFor({ timeout: 60_000 });
    assert.equal(await group.locator('.size').textContent(), '3', await group.textContent());
    await screenshot(page, 'studio-inbox');

    // Label the whole group out of scope with one action.
    const file = join(workspace, 'training-data', 'en', 'out_of_scope.yaml');
    const before = readFileSync(file, 'utf8');
    await group.getByRole('button', { name: 'Out of scope' }).click();
    await page.locator('.toast').filter({ hasText: 'Out of scope' }).waitFor();
    await page.locator('.retrain').waitFor();
    const added = readFileSync(file, 'utf8').slice(before.length).trim().split('\n').sort();
    assert.deepEqual(added, questions.map((q) => `- ${q}`).sort());
    await page.locator('.group').filter({ hasText: 'ramen' }).first().waitFor({ state: 'detached' });

    // Open an intent, edit a template: the preview follows.
    await page.getByRole('tab', { name: 'Intents' }).click();
    await page.getByRole('button', { name: 'cancel_order' }).click();
    const template = page.locator('#t-en-0');
    await template.fill('{% if order_id is defined %}Order {{ order_id }}{% else %}Your order{% endif %} will be cancelled right away.');
    await page.locator('#v-order_id-sample').fill('MD11112222');
    await page.locator('.locale-en .rendered').first().filter({ hasText: 'Order MD11112222 will be cancelled right away.' }).waitFor();
    await template.fill('Order {{ order_id }} for {{ nickname }}');
    await page.locator('#problems li').filter({ hasText: 'nickname' }).waitFor();
    assert.equal(await page.locator('#save').isDisabled(), true);
    await template.fill('{% if order_id is defined %}Order {{ order_id }}{% else %}Your order{% endif %} will be cancelled right away.');
    await page.locator('#problems li').first().waitFor({ state: 'detached' });
    await page.locator('.locale-en .rendered').first().filter({ hasText: 'Order MD11112222 will be cancelled right away.' }).waitFor();
    await screenshot(page, 'studio-intent-editor');
    await page.locator('#save').click();
    await page.locator('.toast').filter({ hasText: 'Saved' }).waitFor();
    assert.match(readFileSync(join(workspace, 'intents', 'cancel_order.yaml'), 'utf8'), /will be cancelled right away/);

    // Try it.
    await page.locator('#try-text').fill('I want to cancel my order');
    await page.locator('#try-locale').selectOption('en');
    await page.locator('#try-run').click();
    await page.locator('.r-intent').filter({ hasText: 'cancel_order' }).waitFor({ timeout: 120_000 });
    assert.ok((await page.locator('.r-neighbours li').count()) > 0);
    await screenshot(page, 'studio-try-it');

    // An agent is refused.
    const agentContext = await browser.newContext({ locale: 'en-US' });
    const agentPage = await logIn(agentContext, server.base, 'aki');
    await agentPage.waitForURL(`${server.base}/studio`);
    assert.match(await agentPage.locator('h1').textContent(), /Not allowed/);
    const api = await agentPage.evaluate(async () => (await fetch('/studio/api/inbox')).status);
    assert.equal(api, 403);
  } finally {
    await browser.close();
    await server.stop();
    rmSync(workspace, { recursive: true, force: true });
  }
});
