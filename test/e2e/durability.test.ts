/**
 * Killing `hangar serve` with SIGKILL at any moment loses no acknowledged change:
 * writes run flat out, the server is killed mid-stream, restarted on the same data
 * directory, and every write that was answered 2xx must be there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

describe('durability across SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-durable-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged app, machine, metadata write and state change', async () => {
    const token = 'durable-token';
    let server: ServerProcess = await startServerProcess(dir, token, ['--driver', 'fake']);
    const apps: string[] = [];
    const machines = new Map<string, { app: string; metadata: Record<string, string>; state?: string }>();

    for (let round = 0; round < 3; round++) {
      const app = `durable-${round}`;
      assert.equal((await request(server, 'POST', '/v1/apps', { name: app })).status, 201);
      apps.push(app);
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const created = await request(server, 'POST', `/v1/apps/${app}/machines`, { name: `m-${i}`, skip_launch: i % 2 === 0, config: { image: 'r.test/a:1' } });
            if (created.status !== 200) continue;
            const entry: { app: string; metadata: Record<string, string>; state?: string } = { app, metadata: {} };
            machines.set(created.body.id, entry);
            const set = await request(server, 'POST', `/v1/apps/${app}/machines/${created.body.id}/metadata/round`, { value: String(round) });
            if (set.status === 204) entry.metadata.round = String(round);
            if (i % 2 === 0) {
              const cordon = await request(server, 'POST', `/v1/apps/${app}/machines/${created.body.id}/cordon`);
              if (cordon.status === 200) entry.state = 'cordoned';
            }
          } catch {
            return; // the server died under us; what was acknowledged is recorded
          }
        }
      })();
      // Some writes acknowledged in every round (however slow this machine is), then the kill at a point that differs by round.
      const written = machines.size;
      for (let i = 0; i < 600 && machines.size < written + 4; i++) await sleep(25);
      await sleep(100 + round * 250);
      await server.kill();
      stop = true;
      await writer;
      server = await startServerProcess(dir, token, ['--driver', 'fake']);

      for (const name of apps) assert.equal((await request(server, 'GET', `/v1/apps/${name}`)).status, 200, `app ${name} lost`);
      for (const [id, expected] of machines) {
        const shown = await request(server, 'GET', `/v1/apps/${expected.app}/machines/${id}`);
        assert.equal(shown.status, 200, `machine ${id} lost`);
        // Acknowledged writes must be there; a write cut off before its answer may or may not be.
        for (const [key, value] of Object.entries(expected.metadata)) {
          assert.equal(shown.body.config.metadata?.[key], value, `metadata ${key} of ${id}`);
        }
        if (expected.state === 'cordoned') assert.equal(shown.body.cordoned, true, `cordon of ${id}`);
      }
    }
    assert.ok(machines.size >= 10, `only ${machines.size} machines were written`);
    await server.stop();
  });

  it('refuses a second server on the same data directory', async () => {
    const server = await startServerProcess(dir, 'durable-token', ['--driver', 'fake']);
    try {
      await assert.rejects(startServerProcess(dir, 'durable-token', ['--driver', 'fake']), /in use by hangar process/);
    } finally {
      await server.stop();
    }
  });
});
