/**
 * Answers match the response schemas they are documented with (which hold the
 * config schema fly-go decodes), and the served OpenAPI document carries them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { LeaseSchema, MachineEventSchema, MachineSchema, MachineVersionSchema } from '../../src/api/responses.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

function assertFits(schema: TSchema, value: unknown, what: string): void {
  assert.ok(Value.Check(schema, value), `${what}: ${JSON.stringify([...Value.Errors(schema, value)].slice(0, 3))}`);
}

describe('response schemas', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('every machine answer fits Machine, events fit MachineEvent, versions and leases theirs', async () => {
    const app = await t.app('shapes');
    const config = {
      image: 'registry.test/web:1', size: 'shared-cpu-2x', env: { A: 'b' }, metadata: { role: 'web' },
      services: [{ internal_port: 8080, autostop: 'suspend', ports: [{ port: 80, handlers: ['http'] }], checks: [{ type: 'http', path: '/', interval: 15e9 }] }],
      stop_config: { timeout: 10e9, signal: 'SIGTERM' }, restart: { policy: 'always' }, rootfs: { persist: 'restart' },
    };
    const created = await t.call('POST', `/v1/apps/${app}/machines`, { config, lease_ttl: 30 });
    assertFits(MachineSchema, created.body, 'create');
    const id = created.body.id as string;
    await t.waitFor(app, id, 'started');
    assertFits(LeaseSchema, (await t.call('GET', `/v1/apps/${app}/machines/${id}/lease`)).body, 'lease');
    const nonce = { 'fly-machine-lease-nonce': created.body.nonce as string };
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${id}`, { config: { ...config, env: { A: 'c' } } }, nonce);
    assertFits(MachineSchema, updated.body, 'update');
    await t.waitFor(app, id, 'started');
    await t.call('POST', `/v1/apps/${app}/machines/${id}/suspend`, undefined, nonce);
    await t.waitFor(app, id, 'suspended');
    assertFits(MachineSchema, (await t.call('GET', `/v1/apps/${app}/machines/${id}`)).body, 'show');
    for (const query of ['', '?summary=true', '?include_leases=true']) {
      const listed = (await t.call('GET', `/v1/apps/${app}/machines${query}`)).body as unknown[];
      assert.equal(listed.length, 1);
      for (const machine of listed) assertFits(MachineSchema, machine, `list${query}`);
    }
    for (const event of (await t.call('GET', `/v1/apps/${app}/machines/${id}/events`)).body) assertFits(MachineEventSchema, event, 'event');
    for (const version of (await t.call('GET', `/v1/apps/${app}/machines/${id}/versions`)).body) assertFits(MachineVersionSchema, version, 'version');
  });

  it('documents the config in requests and the machine in answers', async () => {
    const doc = (await t.call('GET', '/openapi.json')).body;
    const create = doc.paths['/v1/apps/{app_name}/machines'].post;
    const config = create.requestBody.content['application/json'].schema.properties.config;
    assert.ok(JSON.stringify(config).includes('"swap_size_mb"'), 'the config schema is in the create body');
    const answer = create.responses['200'].content['application/json'].schema;
    assert.ok(answer.properties?.host_status && answer.properties?.config, 'the machine schema is the create answer');
  });
});
