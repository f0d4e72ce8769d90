/**
 * The web console in a real browser (Debian's Chromium, driven by playwright-core)
 * against a hangar on loopback (fake driver): sign in with the token; see a machine
 * go started → suspended live after a suspend through the API; stop it from the
 * page, confirming, and see the state change. Every call the page makes carries the
 * token in a header; none puts it in a URL or in storage other origins could read.
 * HANGAR_SCREENSHOTS=DIR also saves the screenshots the README shows.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { hangarForCli } from '../helpers/cli-run.ts';
import { TOKEN, type TestHangar } from '../helpers/hangar.ts';
import { ROOT } from '../helpers/server-process.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.HANGAR_SCREENSHOTS;

describe('the web console in Chromium', () => {
  let t: TestHangar;
  let url: string;
  let browser: Browser;
  let page: Page;
  const calls: Array<{ url: string; authorization: string | undefined }> = [];

  before(async () => {
    if (!existsSync(join(ROOT, 'console/dist/console.js'))) execFileSync(process.execPath, [join(ROOT, 'console/build.ts')]);
    ({ t, url } = await hangarForCli({ delays: { bootMs: 20, suspendMs: 20, stopMs: 20 } }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    page.on('request', (request) => calls.push({ url: request.url(), authorization: request.headers().authorization }));
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const shot = async (name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };
  const stateOf = (id: string) => page.locator(`tr[data-machine="${id}"] td[data-state]`);

  it('is served with a policy that lets it reach nothing but this server, and asks for the token', async () => {
    const response = await page.goto(`${url}/console`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'; script-src 'self'/);
    await page.getByLabel('API token').waitFor();
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /token|authori/i);
  });

  it('signs in, shows a machine go started → suspended live, and stops it from the page', async () => {
    const app = await t.app('shop');
    const machine = await t.machine(app, { config: { image: 'registry.test/shop:1', metadata: { fly_process_group: 'web' } } });
    await t.waitFor(app, machine.id, 'started');
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'shop' }).click();
    await stateOf(machine.id).filter({ hasText: 'started' }).waitFor();
    await shot('console-app');

    // A change through the API reaches the open page with no reload.
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.id}/suspend`)).status, 200);
    await stateOf(machine.id).and(page.locator('[data-state="suspended"]')).waitFor();

    await page.locator(`tr[data-machine="${machine.id}"]`).click();
    await page.locator('button[data-action="stop"]').click();
    await page.getByRole('dialog').waitFor();
    await shot('console-confirm');
    await page.locator('button[data-confirm="yes"]').click();
    await stateOf(machine.id).and(page.locator('[data-state="stopped"]')).waitFor();
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${machine.id}`)).body.state, 'stopped');
    // The events reload when the machine changes; wait for that reload, not the one before it.
    await page.locator('table.events td', { hasText: /^stop$/ }).first().waitFor();
    assert.match(await page.locator('table.events').innerText(), /\tstop\tstopped\t/);
  });

  it('sends the token only in headers, keeps it in this tab alone, and shows hosts', async () => {
    await page.getByRole('link', { name: 'Hosts' }).click();
    await page.locator('td', { hasText: 'local' }).first().waitFor();
    await shot('console-hosts');
    const apiCalls = calls.filter((call) => new URL(call.url).pathname.match(/^\/(v1|hangar)\//));
    assert.ok(apiCalls.length > 5);
    for (const call of apiCalls) assert.ok(call.authorization === `Bearer ${TOKEN}` || call.authorization === 'Bearer not-the-token', call.url);
    assert.ok(calls.every((call) => !call.url.includes(TOKEN)), 'no URL holds the token');
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.ok(calls.every((call) => call.url.startsWith(url)), 'the page called nothing but this server');
  });
});
