/**
 * Every /v1 response validates against Fly's official OpenAPI document
 * (COMPAT.md's exceptions aside, see helpers/fly-spec.ts): a scenario drives each
 * operation hangar serves, successes and errors alike, and each real response is checked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkResponse } from '../helpers/fly-spec.ts';
import { testHangar, type Reply, type TestHangar } from '../helpers/hangar.ts';

interface Seen { method: string; url: string; status: number; body: unknown }

describe('conformance to Fly\'s OpenAPI spec', () => {
  let t: TestHangar;
  const seen: Seen[] = [];
  let call: (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

  before(async () => {
    t = await testHangar();
    call = async (method, url, body, headers) => {
      const reply = await t.call(method, url, body, headers);
      seen.push({ method, url, status: reply.status, body: reply.body });
      return reply;
    };
    await scenario();
  });
  after(() => t.close());

  async function scenario(): Promise<void> {
    await call('POST', '/v1/apps', { name: 'spec-app', org_slug: 'personal' });
    await call('POST', '/v1/apps', { name: 'spec-app', org_slug: 'personal' });
    await call('GET', '/v1/apps?org_slug=personal');
    await call('GET', '/v1/apps/spec-app');
    await call('GET', '/v1/apps/missing-app');
    const base = '/v1/apps/spec-app/machines';
    const config = {
      image: 'registry.test/web:1',
      guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
      env: { A: 'b' },
      services: [{ protocol: 'tcp', internal_port: 8080, autostop: 'suspend', autostart: true, ports: [{ port: 80, handlers: ['http'] }] },
        { protocol: 'tcp', internal_port: 9090, autostop: 'stop', ports: [{ port: 9090 }] }],
      checks: { alive: { type: 'tcp', port: 8080, interval: 15_000_000_000, timeout: '2s' } },
      stop_config: { signal: 'SIGTERM', timeout: 10_000_000_000 },
      restart: { policy: 'on-failure', max_retries: 3 },
      metadata: { role: 'web' },
    };
    const created = (await call('POST', base, { name: 'spec-machine', config, lease_ttl: 30 })).body;
    await call('POST', base, { config: { image: '' } });
    await call('POST', base, { config: { image: 'a/b', guest: { memory_mb: 100 } } });
    await call('POST', base, { name: 'spec-machine', config });
    const id = created.id as string;
    const nonce = { 'fly-machine-lease-nonce': created.nonce as string };
    const m = `${base}/${id}`;
    await call('GET', `${m}/wait?state=started&timeout=10`);
    await call('GET', `${m}/wait?state=bogus`);
    await call('GET', base);
    await call('GET', `${base}?summary=true&include_deleted=true`);
    await call('GET', m);
    await call('GET', `${base}/00000000000000`);
    await call('GET', `${m}/lease`);
    await call('POST', `${m}/lease`, { ttl: 60 });
    await call('POST', `${m}/lease`, { ttl: 60 }, nonce);
    await call('POST', `${m}/cordon`, undefined, nonce);
    await call('POST', `${m}/uncordon`, undefined, nonce);
    await call('GET', `${m}/metadata`);
    await call('POST', `${m}/metadata/tier`, { value: 'gold' }, nonce);
    await call('GET', `${m}/metadata/tier`);
    await call('GET', `${m}/metadata/none`);
    await call('PATCH', `${m}/metadata`, { metadata: { x: '1' } }, nonce);
    await call('PUT', `${m}/metadata`, { metadata: { role: 'web' } }, nonce);
    await call('PUT', `${m}/metadata`, { metadata: { role: 'web' }, machine_version: 'stale' }, nonce);
    await call('DELETE', `${m}/metadata/role`, undefined, nonce);
    await call('POST', `${m}/exec`, { command: ['echo', 'hi'] });
    await call('POST', `${m}/exec`, {});
    await call('GET', `${m}/ps`);
    await call('GET', `${m}/memory`);
    await call('PUT', `${m}/memory`, { limit_mb: 128 });
    await call('PUT', `${m}/memory`, { limit_mb: 4096 });
    await call('POST', `${m}/memory/reclaim`, { amount_mb: 16 });
    await call('GET', '/v1/orgs/personal/machines?limit=10');
    await call('GET', '/v1/orgs/personal/machines?cursor=bad');
    await call('POST', `${m}/signal`, { signal: 'SIGHUP' });
    await call('POST', `${m}/signal`, { signal: 'SIGWHAT' });
    await call('POST', `${m}/suspend`);
    await call('POST', `${m}/suspend`, undefined, nonce);
    await call('GET', `${m}/wait?state=suspended&timeout=10`);
    await call('POST', `${m}/start`, undefined, nonce);
    await call('GET', `${m}/wait?state=started&timeout=10`);
    await call('POST', `${m}/restart?signal=SIGTERM&timeout=5s`, undefined, nonce);
    await call('GET', `${m}/wait?state=started&timeout=10`);
    await call('POST', m, { current_version: created.instance_id, config: { ...config, image: 'registry.test/web:2' } }, nonce);
    await call('POST', m, { current_version: 'old', config }, nonce);
    await call('GET', `${m}/wait?state=started&timeout=10`);
    await call('GET', `${m}/versions`);
    await call('GET', `${m}/events`);
    await call('POST', `${m}/stop`, { signal: 'SIGTERM', timeout: '5s' }, nonce);
    await call('GET', `${m}/wait?state=stopped&timeout=10`);
    await call('POST', `${m}/stop`, undefined, nonce);
    await call('GET', `${m}/wait?state=started&timeout=1`);
    await call('DELETE', `${m}/lease`, undefined, nonce);
    await call('DELETE', `${m}/lease`);
    await call('DELETE', m);
    await call('GET', `${m}/wait?state=destroyed&timeout=10`);
    const volume = (await call('POST', '/v1/apps/spec-app/volumes', { name: 'spec_data', size_gb: 1 })).body;
    await call('POST', '/v1/apps/spec-app/volumes', { name: 'Bad Name' });
    await call('GET', '/v1/apps/spec-app/volumes');
    await call('GET', '/v1/orgs/personal/volumes?limit=10');
    await call('GET', '/v1/orgs/personal/volumes?include_deleted=true&summary=true');
    await call('GET', '/v1/orgs/personal/volumes?cursor=bad');
    await call('GET', `/v1/apps/spec-app/volumes/${volume.id}`);
    await call('PUT', `/v1/apps/spec-app/volumes/${volume.id}`, { snapshot_retention: 7 });
    await call('PUT', `/v1/apps/spec-app/volumes/${volume.id}/extend`, { size_gb: 2 });
    await call('POST', `/v1/apps/spec-app/volumes/${volume.id}/snapshots`);
    const snapshots = (await call('GET', `/v1/apps/spec-app/volumes/${volume.id}/snapshots`)).body;
    const restored = (await call('POST', '/v1/apps/spec-app/volumes', { name: 'spec_restored', size_gb: null, snapshot_id: snapshots[0].id, source_volume_id: null })).body;
    const forked = (await call('POST', '/v1/apps/spec-app/volumes', { name: 'spec_fork', size_gb: null, snapshot_id: null, source_volume_id: volume.id })).body;
    for (const id of [restored.id, forked.id]) await call('DELETE', `/v1/apps/spec-app/volumes/${id}`);
    await call('DELETE', `/v1/apps/spec-app/volumes/${volume.id}`);
    await call('GET', '/v1/apps/spec-app/volumes/vol_missing000000000');
    await call('GET', '/v1/platform/regions');
    const placements = { compute: null, region: '', count: 2, volume_name: '', volume_size_bytes: 0, weights: null, org_slug: 'personal' };
    await call('POST', '/v1/platform/placements', placements);
    await call('POST', '/v1/platform/placements', { ...placements, region: 'nowhere' });
    await call('GET', '/v1/apps/spec-app/ip_assignments');
    await t.proxy.listen({ http: { host: '127.0.0.1', port: 0 } });
    const assign = { type: 'shared_v4', region: '', org_slug: 'personal', network: '', service_name: '' };
    await call('POST', '/v1/apps/spec-app/ip_assignments', assign);
    await call('GET', '/v1/apps/spec-app/ip_assignments');
    await call('POST', '/v1/apps/spec-app/ip_assignments', { ...assign, type: 'private_v6' });
    await call('DELETE', '/v1/apps/spec-app/ip_assignments/127.0.0.1');
    await call('DELETE', '/v1/apps/spec-app/ip_assignments/10.0.0.1');
    await call('DELETE', '/v1/apps/spec-app');
  }

  it('answers every request with a body the spec allows', () => {
    const failures = seen.flatMap((s) => checkResponse(s.method, s.url, s.status, s.body).errors);
    assert.deepEqual(failures, []);
    assert.ok(seen.some((s) => s.status >= 400), 'the scenario covers error responses');
  });

  it('has a checker that rejects what the spec forbids', () => {
    assert.notDeepEqual(checkResponse('GET', '/v1/apps/a/machines/b', 200, { id: 'x', state: 3 }).errors, []);
    assert.notDeepEqual(checkResponse('GET', '/v1/apps/a/machines/b/wait', 200, { ok: 'yes' }).errors, []);
    assert.notDeepEqual(checkResponse('POST', '/v1/apps/a/machines', 422, { error: 'x', status: 'made_up' }).errors, []);
    assert.notDeepEqual(checkResponse('GET', '/v1/apps/a/machines/b/teleport', 200, {}).errors, []);
  });

  it('gives every error the {error, status} shape', () => {
    for (const s of seen.filter((x) => x.status >= 400)) {
      const body = s.body as { error?: unknown; status?: unknown };
      assert.equal(typeof body.error, 'string', `${s.method} ${s.url}`);
      assert.ok(['unknown', 'insufficient_capacity', 'volume_placement_capacity', 'name_taken'].includes(String(body.status)), `${s.method} ${s.url}: ${String(body.status)}`);
    }
  });

  it('exercises every /v1 operation hangar serves, each of which is in Fly\'s spec', async () => {
    const doc = JSON.parse((await t.hangar.app.inject({ method: 'GET', url: '/openapi.json' })).body);
    // App secrets are fly-go's (flaps_secrets.go) and not in this spec: test/api/secrets.test.ts decodes them as fly-go does.
    const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => path.startsWith('/v1/') && !path.startsWith('/v1/apps/{app_name}/secrets'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    const exercised = new Set(seen.map((s) => `${s.method} ${checkResponse(s.method, s.url, s.status, s.body).template}`));
    const missing = served.filter((op) => !exercised.has(op));
    assert.deepEqual(missing, []);
    assert.ok(served.length >= 37, `serves ${served.length} operations`);
  });
});
