/**
 * flyctl's commands replayed call by call against hangar (fake driver), in the order
 * flyctl makes them (shared/research/flyctl-compat.md §3, test/helpers/flyctl/), each
 * answer checked for what flyctl reads from it and what it would then show. One
 * test per command of the research table; they run in order on one hangar, as a
 * user would type them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { flyAppsCreate, flyAppsList, flyAuthWhoami, flyLogs, flyOrgsList, flyPlatformRegions, flyScaleCount, flyStatus } from '../helpers/flyctl/apps.ts';
import type { Call } from '../helpers/flyctl/call.ts';
import { flyDeploy, flyToml } from '../helpers/flyctl/deploy.ts';
import { flyMachineById, flyMachineList, flyMachineRun } from '../helpers/flyctl/machine.ts';
import { flySecretsChange, flySecretsList } from '../helpers/flyctl/secrets.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('flyctl\'s commands, replayed', () => {
  let t: TestHangar;
  let call: Call;
  /** What flyctl keeps per app as `app_secrets_minvers`. */
  const minVersion: Record<string, number> = {};
  const printenv = async (app: string, id: string, name: string) => (await call('POST', `/v1/apps/${app}/machines/${id}/exec`, { command: ['printenv', name] })).body.stdout?.trim() as string;

  before(async () => {
    t = await testHangar();
    call = (method, url, body, headers) => t.call(method, url, body, headers);
  });
  after(() => t.close());

  it('fly orgs list, fly auth whoami, fly platform regions', async () => {
    assert.deepEqual((await flyOrgsList(call)).find((org) => org.type === 'PERSONAL'), { name: 'personal', slug: 'personal', type: 'PERSONAL' });
    assert.match(await flyAuthWhoami(call), /^[^@\s]+@[^@\s]+$/);
    assert.deepEqual(await flyPlatformRegions(call), ['local']);
  });

  it('fly apps create, plain and --json', async () => {
    assert.deepEqual(await flyAppsCreate(call, 'shop'), ['New app created: shop']);
    const [json] = await flyAppsCreate(call, 'kept', { json: true });
    const shown = JSON.parse(json ?? '');
    assert.deepEqual(shown, { ID: shown.ID, Name: 'kept', Organization: { id: 'personal', slug: 'personal', paidPlan: false }, Hostname: 'kept.localhost', Deployed: false });
    assert.equal((await call('POST', '/v1/apps?wait=true', { name: 'shop', org_slug: 'personal', network: '', app_role_id: '' })).status, 422, 'a name taken is refused');
  });

  it('fly secrets set and list on an app never deployed: staged for the first deployment', async () => {
    const set = await flySecretsChange(call, 'shop', { GREETING: 'hello', OLD: 'x' });
    assert.deepEqual(set.printed, ['Secrets are staged for the first deployment']);
    minVersion.shop = set.version;
    const listed = await flySecretsList(call, 'shop', minVersion.shop);
    assert.deepEqual(listed.map(({ name, status }) => [name, status]), [['GREETING', 'Staged'], ['OLD', 'Staged']]);
    assert.ok(listed.every((secret) => /^[0-9a-f]{16}$/.test(secret.digest)));
  });

  it('fly deploy --image, first: a release, machines launched in it with the secrets, the release complete', async () => {
    const deployed = await flyDeploy(call, 'shop', 'registry.test/shop:1', 'local');
    assert.equal(deployed.machines.length, 2);
    assert.equal(deployed.release.version, 1);
    assert.equal(deployed.printed.at(-1), 'Visit your newly deployed app at https://shop.fly.dev/', 'flyctl makes this URL itself, from the app name');
    for (const machine of deployed.machines) {
      assert.equal(machine.state, 'started');
      assert.equal(await printenv('shop', machine.id, 'GREETING'), 'hello');
    }
    const current = await call('GET', '/api/v1/apps/shop/releases/current');
    assert.deepEqual([current.body.id, current.body.status], [deployed.release.id, 'complete']);
  });

  it('fly deploy --image, again: each machine updated under a lease in a second release, a stopped one left stopped', async () => {
    const [, idle] = (await call('GET', '/v1/apps/shop/machines')).body as Array<{ id: string }>;
    assert.equal((await call('POST', `/v1/apps/shop/machines/${idle?.id}/stop`, {})).status, 200);
    await t.waitFor('shop', idle?.id ?? '', 'stopped');
    const deployed = await flyDeploy(call, 'shop', 'registry.test/shop:2', 'local');
    assert.equal(deployed.release.version, 2);
    assert.equal(deployed.printed[0], 'Updating existing machines in \'shop\' with rolling strategy');
    assert.deepEqual(deployed.machines.map((machine) => machine.config.image), [deployed.ref, deployed.ref]);
    assert.equal(deployed.machines[0]?.state, 'started');
    assert.equal((await t.waitFor('shop', idle?.id ?? '', 'stopped')).status, 200, 'updated with skip_launch: not started');
    assert.equal((await call('POST', `/v1/apps/shop/machines/${idle?.id}/start`)).status, 200);
    await t.waitFor('shop', idle?.id ?? '', 'started');
    for (const machine of deployed.machines) assert.equal((await call('GET', `/v1/apps/shop/machines/${machine.id}/lease`)).status, 404, 'every lease released');
  });

  it('fly secrets set and unset on a deployed app: a release of the deployed config restarts every machine with the change', async () => {
    const before = await flyMachineList(call, 'shop');
    const set = await flySecretsChange(call, 'shop', { GREETING: 'bonjour' });
    assert.equal(set.release?.version, 3);
    const unset = await flySecretsChange(call, 'shop', { OLD: null });
    assert.equal(unset.release?.version, 4);
    minVersion.shop = unset.version;
    const machines = (await call('GET', '/v1/apps/shop/machines')).body as Array<{ id: string; state: string; config: { image: string; metadata: Record<string, string> } }>;
    assert.deepEqual(machines.map((machine) => machine.id).sort(), before.map((machine) => machine.id).sort(), 'the same machines, restarted');
    for (const machine of machines) {
      assert.deepEqual([machine.state, machine.config.metadata.fly_release_version, machine.config.image], ['started', '4', 'registry.test/shop:2']);
      assert.equal(await printenv('shop', machine.id, 'GREETING'), 'bonjour');
      assert.equal(await printenv('shop', machine.id, 'OLD'), '');
    }
    const release = (await call('GET', '/api/v1/apps/shop/releases/current')).body;
    assert.deepEqual([release.version, release.image_ref], [4, 'registry.test/shop:2'], 'the deployed image, not a new one');
    assert.deepEqual((await flySecretsList(call, 'shop', minVersion.shop)).map(({ name, status }) => [name, status]), [['GREETING', 'Deployed']]);
  });

  it('fly status: the app, its machines at the newest release, no update offered for the image', async () => {
    const status = await flyStatus(call, 'shop');
    assert.deepEqual(status.app, { name: 'shop', owner: 'personal', hostname: 'shop.localhost', image: 'shop:2' }, 'the image as repository:tag, the hostname under the proxy\'s domain');
    assert.deepEqual(status.machines.map((machine) => [machine.version, machine.state]), [['4', 'started'], ['4', 'started']]);
    assert.equal(status.updatesAvailable, false);
  });

  it('fly scale count 3: one more machine, with the newest release\'s image and version', async () => {
    const [added, ...more] = await flyScaleCount(call, 'shop', 3);
    assert.equal(more.length, 0);
    const shown = (await call('GET', `/v1/apps/shop/machines/${added?.id}`)).body;
    assert.deepEqual([shown.state, shown.config.image, shown.config.metadata.fly_release_version], ['started', 'registry.test/shop:2', '4']);
    assert.equal(await printenv('shop', shown.id, 'GREETING'), 'bonjour');
    assert.equal((await flyMachineList(call, 'shop')).length, 3);
  });

  it('fly logs: the machines\' lines, then only what is new after next_token', async () => {
    const first = await flyLogs(call, 'shop');
    const machines = new Set((await flyMachineList(call, 'shop')).map((machine) => machine.id));
    assert.ok(first.lines.length >= 3, `lines from each machine: ${first.lines.length}`);
    for (const line of first.lines) {
      assert.ok(machines.has(line.instance), `${line.instance} is one of the app's machines`);
      assert.deepEqual([line.region, typeof line.message, Number.isNaN(Date.parse(line.timestamp))], ['local', 'string', false]);
    }
    assert.deepEqual((await flyLogs(call, 'shop', first.nextToken)).lines, [], 'nothing new since the token');
  });

  it('fly apps list: both apps, shop deployed at its newest release', async () => {
    const rows = await flyAppsList(call);
    const shop = rows.find((row) => row.name === 'shop');
    assert.deepEqual([shop?.owner, shop?.deployed, shop?.status], ['personal', true, 'deployed']);
    assert.ok(!Number.isNaN(Date.parse(shop?.latestDeploy ?? '')));
    assert.deepEqual(rows.find((row) => row.name === 'kept'), { name: 'kept', owner: 'personal', status: 'pending', deployed: false, latestDeploy: '' });
  });

  it('fly machine run, list, stop, start, suspend, destroy --force: by id, as flyctl finds the app', async () => {
    const { machine, printed } = await flyMachineRun(call, 'kept', 'registry.test/kept:1', minVersion.kept);
    assert.deepEqual(printed.slice(0, 2), ['Success! A Machine has been successfully launched in app kept', ` Machine ID: ${machine.id}`]);
    assert.equal(printed.at(-1), `  ${machine.private_ip}`);
    assert.equal(machine.state, 'started');
    assert.deepEqual(await flyMachineList(call, 'kept'), [{ id: machine.id, state: 'started', region: 'local' }]);

    assert.deepEqual(await flyMachineById(call, machine.id, 'stop'), [`Sending kill signal to machine ${machine.id}...`, `${machine.id} has been successfully stopped`]);
    await t.waitFor('kept', machine.id, 'stopped');
    assert.deepEqual(await flyMachineById(call, machine.id, 'start'), [`${machine.id} has been started`]);
    await t.waitFor('kept', machine.id, 'started');
    assert.deepEqual(await flyMachineById(call, machine.id, 'suspend'), [`${machine.id} is being suspended`]);
    await t.waitFor('kept', machine.id, 'suspended');
    assert.deepEqual(await flyMachineById(call, machine.id, 'start'), [`${machine.id} has been started`]);
    await t.waitFor('kept', machine.id, 'started');
    const destroyed = await flyMachineById(call, machine.id, 'destroy');
    assert.equal(destroyed.at(-1), `${machine.id} has been destroyed`);
    await t.waitFor('kept', machine.id, 'destroyed');
    assert.deepEqual(await flyMachineList(call, 'kept'), []);
  });

  it('fly deploy --image of an app whose config hangar cannot take fails at the release, before any machine changes', async () => {
    const machines = (await call('GET', '/v1/apps/shop/machines')).body;
    const refused = await call('POST', '/api/v1/releases', { app_name: 'shop', build_id: 1, definition: { ...flyToml('shop', 'local'), http_service: { internal_port: 'eighty' } }, image: 'registry.test/shop:3', strategy: 'ROLLING' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error, /definition/);
    assert.deepEqual((await call('GET', '/v1/apps/shop/machines')).body, machines);
  });
});
