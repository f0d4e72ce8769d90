/**
 * flyctl's commands replayed call by call against hangar (fake driver), in the order
 * flyctl makes them (shared/research/flyctl-compat.md §3), each answer checked for
 * what flyctl reads from it: `fly deploy --image` on a new app and again (a rolling
 * update under flyctl's leases), `fly logs`, `fly status`, `fly scale count`, `fly apps
 * list`; secrets, orgs, whoami, regions, and machine commands by id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { replayFlyDeploy } from '../helpers/flyctl-replay.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const gql = (t: TestHangar, query: string, variables: Record<string, unknown>) => t.call('POST', '/graphql', { query, variables });

describe('flyctl\'s commands, replayed', () => {
  let t: TestHangar;
  before(async () => {
    t = await testHangar();
  });
  after(() => t.close());

  it('fly apps create, then fly deploy --image: app, org, build, image, release, machines, release complete; then status, scale count, apps list', async () => {
    const { release, ref } = await replayFlyDeploy((method, url, body) => t.call(method, url, body), 'shop', 'registry.test/shop:2', 'local');
    const definition = { app: 'shop', primary_region: 'local', http_service: { internal_port: 8080, auto_stop_machines: 'stop', auto_start_machines: true, min_machines_running: 0 } };

    // fly deploy --image again: a rolling update of those machines, each under a lease flyctl takes, then fly logs.
    const next = (await t.call('POST', '/api/v1/releases', { app_name: 'shop', build_id: 2, definition, image: 'registry.test/shop:3', strategy: 'ROLLING' })).body.release;
    assert.equal((await t.call('PATCH', `/api/v1/releases/${next.id}`, { status: 'running', metadata: null })).status, 200);
    for (const machine of (await t.call('GET', '/v1/apps/shop/machines')).body as Array<{ id: string; config: Record<string, unknown> }>) {
      const lease = await t.call('POST', `/v1/apps/shop/machines/${machine.id}/lease?ttl=120`, { description: 'flyctl deploy' });
      assert.equal(lease.status, 201);
      const nonce = { 'fly-machine-lease-nonce': lease.body.data.nonce as string };
      const metadata = { ...(machine.config.metadata as object), fly_release_id: next.id, fly_release_version: String(next.version) };
      const updated = await t.call('POST', `/v1/apps/shop/machines/${machine.id}`, { config: { ...machine.config, image: 'registry.test/shop:3', metadata } }, nonce);
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal((await t.call('GET', `/v1/apps/shop/machines/${machine.id}/wait?state=started&instance_id=${updated.body.instance_id}&timeout=60`)).status, 200);
      assert.equal((await t.call('DELETE', `/v1/apps/shop/machines/${machine.id}/lease`, undefined, nonce)).status, 200);
    }
    assert.equal((await t.call('PATCH', `/api/v1/releases/${next.id}`, { status: 'complete', metadata: null })).status, 200);
    const logs = await t.call('GET', '/api/v1/apps/shop/logs?next_token=');
    assert.equal(logs.status, 200);
    assert.ok(logs.body.data.length >= 2 && typeof logs.body.meta.next_token === 'string');

    // fly status: the app compact, its machines, the image's update check (must say "Unknown repository").
    const compact = await gql(t, 'query ($appName: String!) { appcompact: app(name: $appName) { id internalNumericId name hostname cnameTarget deployed network status appUrl platformVersion organization { id internalNumericId slug paidPlan } postgresAppRole: role { name } } }', { appName: 'shop' });
    assert.equal(compact.body.data.appcompact.deployed, true);
    assert.equal((await t.call('GET', '/v1/apps/shop/machines')).body.length, 2);
    const latest = await gql(t, 'query ($image: String!, $flyVersion: String) { latestImageDetails(image: $image, flyVersion: $flyVersion) { registry repository tag version digest } }', { image: ref, flyVersion: null });
    assert.match(latest.body.errors[0].message, /Unknown repository/);

    // fly scale count 3: the current release's config (tolerated), the machines, the releases (fatal if none).
    const current = await gql(t, 'query FlyctlConfigCurrentRelease($appName: String!) { app(name: $appName) { currentReleaseUnprocessed { configDefinition } } }', { appName: 'shop' });
    assert.deepEqual(current.body.data.app.currentReleaseUnprocessed.configDefinition, definition);
    const releases = await gql(t, 'query ($appName: String!, $limit: Int!) { app(name: $appName) { releases: releasesUnprocessed(first: $limit) { nodes { id version description reason status imageRef stable user { id email name } createdAt } } } }', { appName: 'shop', limit: 25, status: null });
    const [newest] = releases.body.data.app.releases.nodes;
    assert.deepEqual({ id: newest.id, version: newest.version, imageRef: newest.imageRef }, { id: next.id, version: 2, imageRef: 'registry.test/shop:3' }, 'what scale count gives new machines');
    assert.equal(releases.body.data.app.releases.nodes[1].id, release.id);
    // …then the volumes, and a machine launched like the newest, carrying the newest release.
    assert.equal((await t.call('GET', '/v1/apps/shop/volumes')).status, 200);
    const [template] = (await t.call('GET', '/v1/apps/shop/machines')).body as Array<{ config: Record<string, unknown>; region: string }>;
    const scaled = await t.call('POST', '/v1/apps/shop/machines', {
      region: template?.region, config: { ...template?.config, image: newest.imageRef, metadata: { ...(template?.config.metadata as object), fly_release_id: newest.id, fly_release_version: String(newest.version) } },
    });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    assert.equal((await t.call('GET', '/v1/apps/shop/machines')).body.length, 3);

    // fly apps list: the app, deployed, with its current release.
    const apps = await gql(t, 'query($org: ID, $after: String) { apps(type:"container", first:200, after:$after, organizationId:$org) { pageInfo { hasNextPage endCursor } nodes { id name deployed hostname platformVersion network organization { slug name } currentRelease { createdAt status } status } } }', { org: null, after: null });
    const shop = apps.body.data.apps.nodes.find((node: { name: string }) => node.name === 'shop');
    assert.deepEqual({ deployed: shop.deployed, status: shop.currentRelease.status }, { deployed: true, status: 'complete' });
  });

  it('fly secrets set, list and unset; orgs list; auth whoami; platform regions; machine run and the machine commands by id', async () => {
    await t.call('POST', '/v1/apps', { name: 'kept', org_slug: 'personal' });
    // fly secrets set A=1: the app compact, the secrets (its version kept as min_secrets_version), the machines.
    const compact = await gql(t, 'query ($appName: String!) { appcompact: app(name: $appName) { id internalNumericId name hostname cnameTarget deployed network status appUrl platformVersion organization { id internalNumericId slug paidPlan } postgresAppRole: role { name } } }', { appName: 'kept' });
    assert.equal(compact.body.data.appcompact.deployed, false);
    const set = await t.call('POST', '/v1/apps/kept/secrets', { values: { A: '1', B: '2' } });
    assert.equal(set.status, 200);
    const minVersion = set.body.version as number;
    assert.deepEqual((await t.call('GET', '/v1/apps/kept/machines')).body, []);
    // fly secrets list: the secrets at that version, the machines, the releases (tolerated).
    const listed = await t.call('GET', `/v1/apps/kept/secrets?version=${minVersion}`);
    assert.deepEqual(listed.body.secrets.map((secret: { name: string }) => secret.name), ['A', 'B']);
    assert.equal((await t.call('GET', '/api/v1/apps/kept/releases?limit=1')).status, 200);
    // fly secrets unset B.
    assert.equal((await t.call('POST', '/v1/apps/kept/secrets', { values: { B: null } })).status, 200);
    // fly orgs list, fly auth whoami, fly platform regions.
    const orgs = await gql(t, 'query($admin: Boolean!) { organizations(admin:$admin) { nodes { id slug rawSlug name type paidPlan billable viewerRole internalNumericId } } }', { admin: false });
    assert.ok(orgs.body.data.organizations.nodes.some((org: { slug: string }) => org.slug === 'personal'));
    assert.match((await gql(t, 'query { viewer { ... on User { id email enablePaidHobby } ... on Macaroon { email } } }', {})).body.data.viewer.email, /@/);
    assert.ok((await t.call('GET', '/v1/platform/regions')).body.regions.length > 0);
    // fly machine run IMAGE -a kept: the app, its network, the org, a build, the image, the machine made with the secrets version.
    assert.equal((await gql(t, 'query ($appName: String!) { app(name: $appName) { network } }', { appName: 'kept' })).body.data.app.network, 'default');
    const image = (await gql(t, 'query ($appName: String!, $imageRef: String!) { app(name: $appName) { id image(ref: $imageRef) { id digest ref compressedSize: compressedSizeFull manifest } } }', { appName: 'kept', imageRef: 'registry.test/kept:1' })).body.data.app.image;
    const machine = await t.call('POST', '/v1/apps/kept/machines', { config: { image: image.ref, env: {} }, min_secrets_version: minVersion });
    assert.equal(machine.status, 200, JSON.stringify(machine.body));
    await t.waitFor('kept', machine.body.id, 'started');
    // fly machine stop|start|destroy ID, with no app named: GetMachine first, for its app.
    const byId = await gql(t, 'query ($machineId: String!) { gqlmachine: machine(machineId: $machineId) { id name app { name organization { id slug } } } }', { machineId: machine.body.id });
    const app = byId.body.data.gqlmachine.app.name;
    assert.equal(app, 'kept');
    // fly machine list -a kept, fly machine suspend ID, fly machine start ID.
    assert.deepEqual((await t.call('GET', `/v1/apps/${app}/machines`)).body.map((m: { id: string }) => m.id), [machine.body.id]);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.body.id}/suspend`)).status, 200);
    await t.waitFor(app, machine.body.id, 'suspended');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.body.id}/start`)).status, 200);
    await t.waitFor(app, machine.body.id, 'started');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.body.id}/stop`, {})).status, 200);
    await t.waitFor(app, machine.body.id, 'stopped');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${machine.body.id}/start`)).status, 200);
    await t.waitFor(app, machine.body.id, 'started');
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${machine.body.id}?force=true`)).status, 200);
    const gone = await gql(t, 'query ($machineId: String!) { gqlmachine: machine(machineId: $machineId) { id name app { name organization { id slug } } } }', { machineId: machine.body.id });
    await t.waitFor(app, machine.body.id, 'destroyed');
    assert.ok(gone.status === 200);
  });
});
