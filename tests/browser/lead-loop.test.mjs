// The support lead's whole loop in real Chromium against a real `madoguchi serve` (real encoder,
// real model) on a copy of the catalog and of the trained model: customers ask something the
// bot cannot answer yet; the lead logs in, labels the group from the inbox with an intent, pins
// one of the messages in the regression set, trains from the "Train & publish" tab, reads the
// report (per-intent changes, confusions, the pinned message it fixes), turns the dial,
// publishes (accepting the confirmation) and "try it" now answers the message with that intent;
// /readyz serves the new version. Screenshots of the report and of the published state; the
// time of each step of label → train → publish is printed (README "Improving the bot").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, SCREENSHOTS, customer, launchBrowser, screenshot, startServer } from './lib/harness.mjs';

const PASSWORD = 'browser-test-password';
// A question the default catalog's model does not answer (a post office box: out of scope or
// below the threshold), and the intent a lead would give it: where the shop delivers is part of
// shipping. Keep these wordings out of training-data/ (the catalog once learnt instalments, and
// the earlier "split the cost over twelve months" was answered before the lead could label it).
const INTENT = 'shipping_fees';
const QUESTIONS = [
  'Can I get it sent to a post office box?',
  'can i get it sent to a post office box',
  'Could you send it to a post office box?',
];
const TRAIN_TIMEOUT = 15 * 60_000;

/** A copy of the catalog, the training data and the last trained model, so that training and
 *  labelling change nothing the other tests use. */
function workspaceCopy() {
  const source = process.env.MADOGUCHI_TEST_WORKSPACE ?? join(REPO, 'target', 'browser-test-workspace');
  const dir = mkdtempSync(join(tmpdir(), 'madoguchi-lead-loop-'));
  cpSync(join(REPO, 'intents'), join(dir, 'intents'), { recursive: true });
  cpSync(join(REPO, 'training-data'), join(dir, 'training-data'), { recursive: true });
  const models = join(source, 'models');
  const version = readFileSync(join(models, 'current'), 'utf8').trim();
  mkdirSync(join(dir, 'models'));
  cpSync(join(models, version), join(dir, 'models', version), { recursive: true });
  writeFileSync(join(dir, 'models', 'current'), `${version}\n`);
  return { dir, version };
}

async function servedModel(base) {
  return (await (await fetch(`${base}/readyz`)).json()).model;
}

test('the lead loop: label an inbox group, train, read the report, turn the dial, publish, try it', { timeout: 30 * 60_000 }, async (t) => {
  const { dir, version: before } = workspaceCopy();
  const server = await startServer({
    env: {
      MADOGUCHI_INTENTS: join(dir, 'intents'),
      MADOGUCHI_TRAINING_DATA: join(dir, 'training-data'),
      MADOGUCHI_MODELS: join(dir, 'models'),
      // The embedding cache scripts/browser-tests.sh trained with: only new texts are embedded.
      MADOGUCHI_CACHE: join(REPO, 'target', 'test-embedding-cache'),
    },
  });
  const browser = await launchBrowser();
  const timings = {};
  const dialogs = [];
  try {
    assert.equal(await servedModel(server.base), before);
    server.addAccount('lena', 'lead', 'Lena Lead');
    // The bot cannot answer these yet: they land in the inbox (one group, below).
    for (const q of QUESTIONS) await (await customer(server.base))(q);

    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
    await page.goto(`${server.base}/studio?lang=en`);
    await page.waitForURL(/\/agent\/login\?next=/);
    await page.getByLabel('Username').fill('lena');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${server.base}/studio`);

    // 1. Label: the group of the three questions, assigned to the intent with one action.
    const started = Date.now();
    const group = page.locator('.group').filter({ hasText: 'post office box' }).first();
    await group.waitFor({ timeout: 60_000 });
    // Which of the three the model leaves unanswered depends on the catalog of the day (a close
    // variant may already be answered); at least two make a group, and exactly those are labelled.
    const groupText = await group.textContent();
    const grouped = QUESTIONS.filter((q) => groupText.includes(q));
    assert.ok(grouped.length >= 2 && grouped.includes(QUESTIONS[0]), groupText);
    assert.equal(await group.locator('.size').textContent(), String(grouped.length), groupText);
    const file = join(dir, 'training-data', 'en', `${INTENT}.yaml`);
    const original = readFileSync(file, 'utf8');
    await group.locator('input.assign').fill(INTENT);
    await group.getByRole('button', { name: 'Assign' }).click();
    await page.locator('.toast').filter({ hasText: INTENT }).waitFor();
    await page.locator('.retrain').waitFor();
    const added = readFileSync(file, 'utf8').slice(original.length).trim().split('\n').sort();
    assert.deepEqual(added, grouped.map((q) => `- ${q}`).sort());
    timings.label_s = (Date.now() - started) / 1000;

    // 2. Pin one of them in the regression set, then train.
    await page.locator('.retrain a').click();
    await page.getByRole('tab', { name: 'Train & publish' }).and(page.locator('[aria-selected="true"]')).waitFor();
    await page.locator('#pin-text').fill(QUESTIONS[0]);
    await page.locator('#pin-intent').fill(INTENT);
    await page.locator('#pin-action').selectOption('answer');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await page.locator('section:has(> #train-pins)').locator('td').filter({ hasText: QUESTIONS[0] }).waitFor();
    const trainStarted = Date.now();
    await page.getByRole('button', { name: 'Train a new version' }).click();
    await page.locator('.train-status').filter({ hasText: /^Trained / }).waitFor({ timeout: TRAIN_TIMEOUT });
    timings.train_s = (Date.now() - trainStarted) / 1000;

    // 3. The report: candidate against the published model, per intent, confusions, the pin fixed.
    const report = page.locator('.train-report');
    await report.locator('h3').filter({ hasText: `compared with the published ${before}` }).waitFor();
    const candidate = (await report.getAttribute('data-version')) ?? '';
    assert.notEqual(candidate, before);
    const headline = await report.locator('table.headline tbody tr').allTextContents();
    assert.ok(headline.length >= 6, headline.join('\n'));
    // Same configuration as the published model (the usual case after labelling): the report says
    // so and shows the candidate's cross-validation alone (no columns of zero changes).
    await report.locator('p').filter({ hasText: 'Same configuration as the published model' }).waitFor();
    const row = report.locator('table.per-intent tbody tr').filter({ has: page.locator('th', { hasText: new RegExp(`^${INTENT}$`) }) });
    assert.equal(await row.count(), 1);
    const perIntent = await row.locator('td').allTextContents();
    assert.ok(Number(perIntent[0]) >= 40 + grouped.length, perIntent.join(' | '));
    assert.match(perIntent[3], /^\d+\.\d%$/, perIntent.join(' | '));
    assert.ok(await report.locator('table.confusions tbody tr').count() >= 1, 'confusion pairs');
    const pin = page.locator('section:has(> #train-pins)').locator('tr').filter({ hasText: QUESTIONS[0] });
    // Whatever the published model did with it (out of scope or a low-confidence guess handed off,
    // or two close intents offered as a clarification), it did not answer, and the candidate
    // answers it with the intent it was labelled with.
    await pin.filter({ hasText: new RegExp(`fixed \\([a-z_]+, (handoff|clarify) → ${INTENT}, answer\\)`) }).waitFor();
    assert.ok(await report.locator('svg.studio-curve path').count() >= 1, 'the coverage curve');

    // 4. The dial: a target precision gives a threshold and its coverage; publish with it.
    const dialOut = report.locator('output[for="dial"]');
    await dialOut.filter({ hasText: /^Target 95\.0%: threshold \d\.\d\d answers / }).waitFor();
    await report.locator('#dial').fill('0.9');
    await dialOut.filter({ hasText: /^Target 90\.0%: threshold \d\.\d\d answers / }).waitFor();
    const threshold = (await dialOut.textContent()).match(/threshold (\d\.\d\d)/)[1];
    await screenshot(page, 'studio-train-report');

    const publishStarted = Date.now();
    await report.getByRole('button', { name: `Publish with threshold ${threshold}` }).click();
    await page.locator('.toast').filter({ hasText: `Published ${candidate}` }).waitFor();
    assert.match(dialogs.at(-1) ?? '', new RegExp(`Publish ${candidate} with answer threshold ${threshold}`));
    for (let i = 0; (await servedModel(server.base)) !== candidate; i++) {
      assert.ok(i < 100, 'the server switched to the candidate');
      await new Promise((r) => setTimeout(r, 100));
    }
    timings.publish_s = (Date.now() - publishStarted) / 1000;
    timings.loop_s = (Date.now() - started) / 1000;
    const published = page.locator('section:has(> #train-versions)').locator('tr').filter({ hasText: candidate });
    await published.filter({ hasText: 'published' }).waitFor();
    await screenshot(page, 'studio-train-published');

    // 5. "Try it" now answers the message with the intent it was labelled with.
    await page.getByRole('tab', { name: 'Intents' }).click();
    await page.locator('#try-text').fill(QUESTIONS[0]);
    await page.locator('#try-locale').selectOption('en');
    await page.locator('#try-run').click();
    await page.locator('.r-intent').filter({ hasText: INTENT }).waitFor({ timeout: 60_000 });
    assert.match(await page.locator('.r-action').textContent(), /^answer/);
    await screenshot(page, 'studio-try-it-after-publish');

    const line = `label ${timings.label_s.toFixed(1)} s, train ${timings.train_s.toFixed(1)} s, publish ${timings.publish_s.toFixed(1)} s, whole loop ${timings.loop_s.toFixed(1)} s`;
    t.diagnostic(`lead loop: ${line}`);
    console.log(`lead loop timings: ${line}`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    writeFileSync(join(SCREENSHOTS, '..', 'lead-loop-timings.json'), JSON.stringify(timings, null, 2));
  } catch (e) {
    console.error(server.log().split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
