/**
 * No input can crash or wedge the server: refused requests change nothing, deep
 * JSON is a 400, and a data directory holding configs today's rules refuse still
 * starts, with those machines reported and left alone.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { MachineConfigSchema } from '../../src/domain/config-schema.ts';
import { testHangar, TOKEN, type TestHangar } from '../helpers/hangar.ts';

const image = 'registry.test/hello:1';

describe('hostile input', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar({ settings: { maxMachinesPerApp: 3 } }); });
  after(() => t.close());

  it('refuses health checks a request could not carry with 400 naming the field, and stores nothing', async () => {
    const app = await t.app('checked');
    for (const [field, value] of [['path', '/a b'], ['path', '/x\r\nX-Evil: 1'], ['path', '/\u0000'], ['path', '/caf\u00e9'], ['method', 'GET /'], ['interval', '10ms']] as const) {
      const check = { type: 'http', port: 8080, path: '/ok', interval: '1s', [field]: value };
      const reply = await t.call('POST', `/v1/apps/${app}/machines`, { config: { image, checks: { web: check } } });
      assert.equal(reply.status, 400, JSON.stringify(check));
      assert.match(reply.body.error, new RegExp(`config\\.checks\\.web\\.${field}`));
    }
    assert.deepEqual((await t.call('GET', `/v1/apps/${app}/machines`)).body, []);
  });

  it('answers deeply nested JSON with 400, not a crash', async () => {
    const app = await t.app('nested');
    for (const depth of [100, 100_000]) {
      const reply = await t.hangar.app.inject({
        method: 'POST', url: `/v1/apps/${app}/machines`,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: `{"config": {"image": "${image}", "extra": ${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      });
      assert.equal(reply.statusCode, 400);
      assert.match(JSON.parse(reply.body).error, /nested deeper than 64/);
    }
  });

  it('bounds the machines of an app', async () => {
    const app = await t.app('crowded');
    for (let i = 0; i < 3; i++) await t.machine(app, { skip_launch: true });
    const refused = await t.call('POST', `/v1/apps/${app}/machines`, { config: { image }, skip_launch: true });
    assert.equal(refused.status, 422);
    assert.match(refused.body.error, /at most 3 machines/);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines`)).body.length, 3);
  });
});

describe('a data directory holding configs today\'s rules refuse', () => {
  it('starts, reports each such machine with an event, leaves it alone, and serves the rest', async () => {
    const first = await testHangar({ keepDir: true });
    await first.app('legacy');
    const good = await first.machine('legacy', { config: { image, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }] } });
    const bad = await first.machine('legacy', { config: { image } });
    await first.waitFor('legacy', good.id, 'started');
    await first.waitFor('legacy', bad.id, 'started');
    await first.close();

    // What an older hangar (or a hand edit) could have left: a check no request can carry, a
    // field fly-go cannot decode, a port range that would open 65,535 listeners.
    const db = new DatabaseSync(join(first.dir, 'hangar.db'));
    const broken = {
      image, init: { tty: 'yes' }, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
      checks: { web: { type: 'http', port: 8080, path: '/a b\r\n', interval: '1ms' } },
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ start_port: 1, end_port: 65535 }] }],
    };
    db.prepare("UPDATE machines SET doc = json_set(doc, '$.config', json(?)) WHERE id = ?").run(JSON.stringify(broken), bad.id);
    db.close();

    const t = await testHangar({ dir: first.dir });
    try {
      const shown = await t.call('GET', `/v1/apps/legacy/machines/${bad.id}`);
      assert.equal(shown.status, 200);
      const event = shown.body.events.find((e: { type: string }) => e.type === 'config');
      assert.equal(event?.status, 'invalid');
      assert.match(event.request.error, /config\.init\.tty/);
      const listed = await t.call('GET', '/v1/apps/legacy/machines');
      for (const machine of listed.body) assert.ok(Value.Check(MachineConfigSchema, machine.config), `machine ${machine.id}'s config decodes`);
      const refused = await t.call('POST', `/v1/apps/legacy/machines/${bad.id}/stop`);
      assert.equal(refused.status, 412);
      assert.match(refused.body.error, /stored config is invalid/);
      // The test's new driver has no VMs: the machine is started again by recovery.
      assert.equal((await t.waitFor('legacy', good.id, 'started')).status, 200);
      // An update with a good config brings the machine back.
      const updated = await t.call('POST', `/v1/apps/legacy/machines/${bad.id}`, { config: { image } });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal((await t.waitFor('legacy', bad.id, 'started')).status, 200);
      assert.equal((await t.call('POST', `/v1/apps/legacy/machines/${bad.id}/stop`)).status, 200);
    } finally {
      await t.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});

describe('a data directory holding machine rows that are not machines', () => {
  it('starts, skips those rows, and serves the machines it can read', async () => {
    const first = await testHangar({ keepDir: true });
    await first.app('torn');
    const good = await first.machine('torn', { config: { image } });
    const garbled = await first.machine('torn', { config: { image } });
    const hollow = await first.machine('torn', { config: { image } });
    await first.waitFor('torn', good.id, 'started');
    await first.close();

    const db = new DatabaseSync(join(first.dir, 'hangar.db'));
    db.prepare('UPDATE machines SET doc = ? WHERE id = ?').run('{"id": "torn', garbled.id);
    db.prepare('UPDATE machines SET doc = ?, recent_events = ? WHERE id = ?').run('{"config": 7}', 'nope', hollow.id);
    db.close();

    const t = await testHangar({ dir: first.dir });
    try {
      // The test's new driver has no VMs: the machine is started again by recovery.
      assert.equal((await t.waitFor('torn', good.id, 'started')).status, 200);
      const listed = await t.call('GET', '/v1/apps/torn/machines');
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.map((m: { id: string }) => m.id), [good.id]);
      assert.equal((await t.call('GET', `/v1/apps/torn/machines/${garbled.id}`)).status, 404);
      assert.equal((await t.call('GET', '/v1/apps')).status, 200);
    } finally {
      await t.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
