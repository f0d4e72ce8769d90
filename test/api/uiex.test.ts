/**
 * flyctl's REST ("uiex") routes: an organization by slug, builds, and releases as
 * `fly deploy` begins, moves on and lists them (internal/uiex in superfly/flyctl),
 * decoded as Go decodes them into uiex.Release; hostile bodies refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GoType, goDecodeErrors } from '../helpers/fly-go.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const str: GoType = { kind: 'string' };
const bool: GoType = { kind: 'bool' };
const int: GoType = { kind: 'int', min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const Release: GoType = { kind: 'struct', name: 'Release', fields: { id: str, version: int, stable: bool, in_progress: bool, status: str, strategy: str, user: str, created_at: { kind: 'time' }, image_ref: str } };

/** An app's config as flyctl's appconfig.Config marshals it into `definition`. */
const DEFINITION = {
  app: 'web', primary_region: 'ams', kill_signal: 'SIGINT', kill_timeout: '5s',
  build: { image: 'registry.test/web:1' },
  http_service: { internal_port: 8080, force_https: true, auto_stop_machines: 'stop', auto_start_machines: true, min_machines_running: 0, processes: ['app'] },
  vm: [{ memory: '1gb', cpu_kind: 'shared', cpus: 1 }],
};

describe('flyctl\'s uiex routes', () => {
  let t: TestHangar;
  before(async () => {
    t = await testHangar();
    await t.app('web');
  });
  after(() => t.close());

  it('answers an organization and builds as flyctl decodes them', async () => {
    const org = await t.call('GET', '/api/v1/organizations/personal');
    assert.equal(org.status, 200);
    assert.equal(org.body.organization.slug, 'personal');
    assert.equal(org.body.organization.personal, true);
    assert.equal(typeof org.body.organization.internal_numeric_id, 'number');
    assert.equal((await t.call('GET', '/api/v1/organizations/nowhere')).status, 404);
    const build = await t.call('POST', '/api/v1/builds', { app_name: 'web', builder_type: 'remote', strategies_available: [] });
    assert.equal(build.status, 200);
    assert.ok(Number.isInteger(build.body.id));
    assert.equal((await t.call('POST', '/api/v1/builds/finish', { build_id: build.body.id, status: 'completed' })).status, 200);
  });

  it('begins a release with flyctl\'s definition, moves it on with PATCH, and lists it', async () => {
    const created = await t.call('POST', '/api/v1/releases', { app_name: 'web', build_id: 7, definition: DEFINITION, image: 'registry.test/web:1', strategy: 'ROLLING' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(goDecodeErrors(created.body.release, Release), []);
    const { id, version } = created.body.release;
    assert.equal(created.body.release.strategy, 'ROLLING');
    assert.equal((await t.call('PATCH', `/api/v1/releases/${id}`, { status: 'running', metadata: {} })).body.in_progress, true);
    assert.equal((await t.call('GET', '/api/v1/apps/web/releases/current')).status, 404, 'nothing complete yet');
    const done = await t.call('PATCH', `/api/v1/releases/${id}`, { status: 'complete', metadata: { post_deployment_info: { flyctl_version: 'v0.3', error: '' } } });
    assert.equal(done.status, 200);
    assert.deepEqual(goDecodeErrors(done.body, Release), []);
    assert.equal(done.body.stable, true);
    const listed = await t.call('GET', '/api/v1/apps/web/releases?limit=5');
    assert.deepEqual(listed.body.releases.map((r: { version: number; status: string }) => `v${r.version} ${r.status}`), [`v${version} complete`]);
    assert.equal((await t.call('GET', '/api/v1/apps/web/releases/current')).body.id, id);
    assert.equal((await t.call('GET', '/hangar/v1/apps/web/releases')).body.releases[0].description, 'deploy by flyctl', 'the same releases hangar deploy writes');
    const failed = await t.call('POST', '/api/v1/releases', { app_name: 'web', build_id: 8, definition: DEFINITION, image: 'registry.test/web:2', strategy: 'CANARY' });
    const ended = await t.call('PATCH', `/api/v1/releases/${failed.body.release.id}`, { status: 'failed', metadata: { post_deployment_info: { error: 'smoke checks failed' } } });
    assert.equal(ended.body.status, 'failed');
    assert.equal((await t.call('GET', '/hangar/v1/apps/web/releases')).body.releases[0].reason, 'smoke checks failed');
  });

  it('refuses what is not a release flyctl could send, changing nothing', async () => {
    const before = (await t.call('GET', '/api/v1/apps/web/releases')).body.releases.length;
    const refusals: Array<[string, string, unknown, number]> = [
      ['POST', '/api/v1/releases', { app_name: 'web', definition: 'not an object', image: 'x' }, 400],
      ['POST', '/api/v1/releases', { app_name: 'web', definition: { http_service: { internal_port: 'eighty' } }, image: 'x' }, 400],
      ['POST', '/api/v1/releases', { app_name: 'web', definition: { statics: [{ guest_path: '/a', url_prefix: '/' }] }, image: 'x' }, 400],
      ['POST', '/api/v1/releases', { app_name: 'nope', definition: {}, image: 'x' }, 404],
      ['PATCH', '/api/v1/releases/unknown-id', { status: 'complete' }, 404],
      ['PATCH', '/api/v1/releases/whatever', { status: 'paused' }, 400],
      ['GET', '/api/v1/apps/web/releases?limit=100000', undefined, 400],
    ];
    for (const [method, url, body, status] of refusals) {
      const reply = await t.call(method, url, body);
      assert.equal(reply.status, status, `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(reply.body)}`);
    }
    assert.equal((await t.call('GET', '/api/v1/apps/web/releases')).body.releases.length, before);
  });

  it('gives an app\'s new console lines to each poll, by next_token, as fly-go\'s GetAppLogs decodes them', async () => {
    const app = await t.app('logged');
    const machine = await t.machine(app);
    await t.waitFor(app, machine.id, 'started');
    const first = await t.call('GET', `/api/v1/apps/${app}/logs?next_token=`);
    assert.equal(first.status, 200);
    const LogEntry: GoType = { kind: 'struct', name: 'LogEntry', fields: { timestamp: str, message: str, level: str, instance: str, region: str, meta: { kind: 'any' } } };
    assert.deepEqual(goDecodeErrors(first.body.data.map((d: { attributes: unknown }) => d.attributes), { kind: 'slice', of: LogEntry }), []);
    assert.ok(first.body.data.length > 0);
    assert.ok(first.body.data.every((d: { attributes: { instance: string; region: string } }) => d.attributes.instance === machine.id && d.attributes.region === 'local'));
    const token = first.body.meta.next_token as string;
    assert.deepEqual((await t.call('GET', `/api/v1/apps/${app}/logs?next_token=${token}`)).body.data, [], 'nothing new since');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.id}/restart`)).status, 200);
    await t.waitFor(app, machine.id, 'started');
    const later = await t.call('GET', `/api/v1/apps/${app}/logs?next_token=${token}&instance=${machine.id}`);
    // The restart's boot line, the same text as the first boot's: only it, once.
    assert.deepEqual(later.body.data.map((d: { attributes: { message: string } }) => d.attributes.message), [first.body.data.at(-1).attributes.message]);
    assert.deepEqual((await t.call('GET', `/api/v1/apps/${app}/logs?region=elsewhere`)).body.data, [], 'a region filter');
    assert.equal((await t.call('GET', `/api/v1/apps/${app}/logs?next_token=${'%7B'.repeat(10)}`)).status, 200, 'a token hangar did not make reads as none');
    assert.equal((await t.call('GET', '/api/v1/apps/nope/logs')).status, 404);
  });
});
