// The harness itself: a real server, Debian's Chromium, the API's documentation page rendered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startServer } from './lib/harness.mjs';

test('the server starts and Chromium renders its API documentation', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const response = await page.goto(`${server.base}/docs/`);
    assert.equal(response.status(), 200);
    await page.getByText('madoguchi').first().waitFor();
    await screenshot(page, 'api-docs');
  } finally {
    await browser.close();
    await server.stop();
  }
});
