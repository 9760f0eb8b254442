// The console's users page (admins) in real Chromium against a real `madoguchi serve`: list, add
// with a role, reset a password, disable (the login is then refused) and enable again; axe-core
// finds nothing serious. An agent sees no users page and the API refuses them (403). Codes are
// shown in words (roles), and the new-ticket sound's mute toggle is remembered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, launchBrowser, screenshot, seriousA11yViolations, startServer } from './lib/harness.mjs';

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

/** Posts the login form outside the browser; the status says whether it was accepted (303). */
async function loginStatus(base, name, password) {
  const r = await fetch(`${base}/agent/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: name, password }),
  });
  return r.status;
}

test('admins manage users on the users page; agents cannot', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const adminContext = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const admin = await logIn(adminContext, server.base, 'admin', ADMIN_PASSWORD);
    await admin.getByRole('button', { name: 'ユーザー管理' }).click();
    const table = admin.getByRole('table', { name: 'ユーザー一覧' });
    await table.waitFor();
    await table.getByRole('row', { name: /admin/ }).getByText('管理者').waitFor();

    // Add an agent with a display name.
    await admin.getByLabel('ユーザー名', { exact: true }).fill('kenji');
    await admin.getByLabel('表示名').fill('鈴木 健二');
    await admin.getByLabel('役割').selectOption('agent');
    await admin.getByLabel('パスワード', { exact: true }).fill('kenji-password-1');
    await admin.getByRole('button', { name: 'ユーザーを追加' }).click();
    await admin.getByText('kenji を追加しました。').waitFor();
    const kenji = table.locator('tr[data-user="kenji"]');
    assert.match(await kenji.innerText(), /鈴木 健二\s+担当者\s+有効/);
    assert.equal(await loginStatus(server.base, 'kenji', 'kenji-password-1'), 303);
    assert.deepEqual(await seriousA11yViolations(admin), [], 'users page');
    await screenshot(admin, 'console-users');

    // Reset the password: the old one stops working, the new one works.
    await kenji.getByLabel('新しいパスワード (kenji)').fill('kenji-password-2');
    await kenji.getByRole('button', { name: 'パスワードを再設定' }).click();
    await admin.getByText('kenji のパスワードを再設定しました。').waitFor();
    assert.equal(await loginStatus(server.base, 'kenji', 'kenji-password-1'), 401);

    // The agent's own console: no users page, and the API says no.
    const agentContext = await browser.newContext({ locale: 'ja-JP' });
    const agent = await logIn(agentContext, server.base, 'kenji', 'kenji-password-2');
    assert.equal(await agent.getByRole('button', { name: 'ユーザー管理' }).count(), 0);
    const refused = await agent.evaluate(async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const list = await fetch('/agent/api/users');
      const add = await fetch('/agent/api/users', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ name: 'mallory', role: 'admin', password: 'mallory-password' }),
      });
      return [list.status, add.status];
    });
    assert.deepEqual(refused, [403, 403]);

    // Disable: the agent's session ends and the login is refused; enable: it works again.
    await kenji.getByRole('button', { name: '無効にする' }).click();
    await admin.getByText('kenji を更新しました。').waitFor();
    assert.match(await kenji.innerText(), /無効/);
    assert.equal(await agent.evaluate(async () => (await fetch('/agent/api/me')).status), 401);
    assert.equal(await loginStatus(server.base, 'kenji', 'kenji-password-2'), 401);
    await kenji.getByRole('button', { name: '有効にする' }).click();
    await kenji.getByRole('button', { name: '無効にする' }).waitFor();
    assert.equal(await loginStatus(server.base, 'kenji', 'kenji-password-2'), 303);

    // The new-ticket sound's mute toggle is remembered across reloads.
    const toggle = admin.locator('#sound');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await admin.reload();
    assert.equal(await admin.locator('#sound').getAttribute('aria-pressed'), 'false');
    assert.equal(await admin.locator('#sound').innerText(), '新着音: オフ');
  } catch (e) {
    console.error(server.log());
    throw e;
  } finally {
    await browser.close();
    await server.stop();
  }
});
