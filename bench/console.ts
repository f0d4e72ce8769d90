/**
 * Web console benchmark: an app of 1,000 machines behind `hangar serve --driver
 * fake --fake-timing instant`, and the console in Debian's Chromium
 * (playwright-core), a fresh browser context each round:
 *
 * - first load: from navigating to /console until the sign-in form is shown;
 * - time to interactive: from the click on the app's link until its table shows all
 *   1,000 machines (each row clickable), the stream of changes open;
 * - baseline, in the same rounds: `GET /v1/apps/{app}/machines` of the same 1,000
 *   machines from Node, until the last byte.
 *
 * Prints figures; asserts nothing. node bench/console.ts (BENCH_MACHINES, default 1000; BENCH_ROUNDS, default 5)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chromium } from 'playwright-core';
import { ROOT, request, startServerProcess } from '../test/helpers/server-process.ts';
import { figureTable, formatTimes, machineFacts } from './lib.ts';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TOKEN = 'bench-console';

if (!existsSync(join(ROOT, 'console/dist/console.js'))) execFileSync(process.execPath, [join(ROOT, 'console/build.ts')]);
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-console-'));
const server = await startServerProcess(join(dir, 'data'), TOKEN, ['--driver', 'fake', '--fake-timing', 'instant']);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const { report, printTable } = figureTable();
console.log(`machine: ${machineFacts()}`);
try {
  await request(server, 'POST', '/v1/apps', { name: 'big' });
  for (let made = 0; made < MACHINES; made += 25) {
    await Promise.all(Array.from({ length: Math.min(25, MACHINES - made) }, () => request(server, 'POST', '/v1/apps/big/machines', { config: { image: 'registry.test/big:1' } })));
  }
  const loads: number[] = [];
  const interactive: number[] = [];
  const lists: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    let start = performance.now();
    await page.goto(`${server.url}/console`);
    await page.getByLabel('API token').waitFor();
    loads.push(performance.now() - start);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'big' }).waitFor();
    start = performance.now();
    await page.getByRole('link', { name: 'big' }).click();
    await page.waitForFunction(`document.querySelectorAll('tr[data-machine]').length >= ${MACHINES}`, undefined, { polling: 'raf' });
    await page.locator('.live.on').waitFor();
    interactive.push(performance.now() - start);
    await context.close();
    start = performance.now();
    const response = await fetch(`${server.url}/v1/apps/big/machines`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await response.arrayBuffer();
    lists.push(performance.now() - start);
  }
  report('console first load (sign-in form shown)', formatTimes(loads));
  report(`app of ${MACHINES} machines: time to interactive (every row shown, live)`, formatTimes(interactive));
  report(`baseline: GET …/machines of the ${MACHINES} machines`, formatTimes(lists));
  printTable();
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
