/**
 * `POST /graphql` as flyctl sends its queries (texts from fly-go and flyctl, see
 * shared/research/flyctl-compat.md §4): each validates and answers 200, with values
 * Go's encoding/json decodes into fly-go's types (BigInt as a string, Int within
 * int32, times in RFC 3339); the texts flyctl matches on for a missing app and an
 * unknown image; operations hangar does not serve fail with a GraphQL error, not a
 * status; and a query cannot multiply its work with aliases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GoType, goDecodeErrors } from '../helpers/fly-go.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { FLYCTL_OPERATIONS } from '../fixtures/flyctl-graphql.ts';

const OPS = Object.fromEntries(FLYCTL_OPERATIONS.map((op) => [op.name, op.query])) as Record<(typeof FLYCTL_OPERATIONS)[number]['name'], string>;

const str: GoType = { kind: 'string' };
const bool: GoType = { kind: 'bool' };
const int32: GoType = { kind: 'int', min: -(2 ** 31), max: 2 ** 31 - 1 };
const time: GoType = { kind: 'time' };
const struct = (name: string, fields: Record<string, GoType>): GoType => ({ kind: 'struct', name, fields });
const slice = (of: GoType): GoType => ({ kind: 'slice', of });
const Organization = struct('Organization', { id: str, slug: str, rawSlug: str, name: str, type: str, paidPlan: bool, billable: bool, viewerRole: str, internalNumericId: str });

describe('GraphQL, as flyctl queries it', () => {
  let t: TestHangar;
  let machineId: string;
  const ask = async (query: string, variables: Record<string, unknown> = {}, operationName?: string) => {
    const reply = await t.call('POST', '/graphql', { query, variables, ...(operationName ? { operationName } : {}) });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body as { data: any; errors?: Array<{ message: string; extensions?: { code?: string } }> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const answer = async (query: string, variables: Record<string, unknown> = {}, operationName?: string) => {
    const body = await ask(query, variables, operationName);
    assert.deepEqual(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };

  before(async () => {
    t = await testHangar();
    await t.app('web');
    await t.call('POST', '/v1/apps', { name: 'team-app', org_slug: 'team' });
    machineId = (await t.machine('web')).id;
    await t.waitFor('web', machineId, 'started');
    const release = await t.call('POST', '/hangar/v1/apps/web/releases', { image: 'registry.test/web:1', strategy: 'rolling', description: '', files: {}, config: { app: 'web', env: { A: 'b' } } });
    await t.call('POST', `/hangar/v1/apps/web/releases/${release.body.version}`, { status: 'complete' });
  });
  after(() => t.close());

  it('answers who the viewer is, and the organizations, as fly-go decodes them', async () => {
    const viewer = (await answer(OPS.GetCurrentUser)).viewer;
    assert.match(viewer.email, /^operator@/);
    const orgs = (await answer(OPS.GetOrganizations, { admin: false })).organizations.nodes;
    assert.deepEqual(orgs.map((org: { slug: string; type: string }) => `${org.slug} ${org.type}`), ['personal PERSONAL', 'team SHARED']);
    assert.deepEqual(goDecodeErrors(orgs, slice(Organization)), []);
    const bySlug = (await answer(OPS.GetOrganizationBySlug, { slug: 'team' })).organization;
    assert.equal(typeof bySlug.internalNumericId, 'string', 'BigInt is a JSON string');
    assert.match((await ask(OPS.GetOrganizationBySlug, { slug: 'nope' })).errors?.[0]?.message ?? '', /Could not find Organization/);
  });

  it('lists and shows apps, with their network, status, organization and current release', async () => {
    const apps = (await answer(OPS.AppsList, { org: null, after: null })).apps;
    assert.deepEqual(apps.nodes.map((app: { name: string }) => app.name), ['team-app', 'web']);
    const web = apps.nodes.find((app: { name: string }) => app.name === 'web');
    assert.deepEqual({ deployed: web.deployed, status: web.status, platformVersion: web.platformVersion, org: web.organization.slug }, { deployed: true, status: 'deployed', platformVersion: 'machines', org: 'personal' });
    assert.ok(!Number.isNaN(Date.parse(web.currentRelease.createdAt)));
    const compact = (await answer(OPS.GetAppCompact, { appName: 'web' })).appcompact;
    assert.deepEqual(goDecodeErrors(compact, struct('AppCompact', { id: str, internalNumericId: int32, name: str, hostname: str, deployed: bool, network: str, status: str, appUrl: str, platformVersion: str })), []);
    assert.equal(compact.postgresAppRole, null);
    assert.equal((await answer(OPS.GetAppNetwork, { appName: 'web' })).app.network, 'default');
  });

  it('answers GetApp (fly apps create --json) with the app\'s machines, config and release', async () => {
    const app = (await answer(OPS.GetApp, { appName: 'web' })).app;
    assert.equal(app.version, 1);
    assert.deepEqual(app.config.definition, { app: 'web', env: { A: 'b' } });
    assert.deepEqual({ status: app.currentRelease.status, inProgress: app.currentRelease.inProgress }, { status: 'complete', inProgress: false });
    assert.deepEqual(app.machines.nodes.map((m: { id: string }) => m.id), [machineId]);
    const [machine] = app.machines.nodes;
    assert.equal(machine.ips.nodes[0].family, 'v6');
    assert.equal(typeof machine.config, 'object');
    assert.deepEqual(goDecodeErrors(machine, struct('GqlMachine', { id: str, name: str, state: str, region: str, createdAt: time })), []);
  });

  it('says "Could not find App" for a missing app, with a 200 and NOT_FOUND, as flyctl matches it', async () => {
    const body = await ask(OPS.GetAppCompact, { appName: 'nope' });
    assert.deepEqual(body.data, { appcompact: null });
    assert.match(body.errors?.[0]?.message ?? '', /Could not find App "nope"/);
    assert.equal(body.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  });

  it('resolves an image as given, finds a machine by id, and says "Unknown repository" for image updates', async () => {
    const image = (await answer(OPS.ResolveImageForApp, { appName: 'web', imageRef: 'registry.test/web:2' })).app.image;
    assert.deepEqual(image, { id: 'registry.test/web:2', digest: null, ref: 'registry.test/web:2', compressedSize: '0', manifest: null });
    const machine = (await answer(OPS.GetMachine, { machineId })).gqlmachine;
    assert.deepEqual(machine, { id: machineId, name: machine.name, app: { name: 'web', organization: { id: 'personal', slug: 'personal' } } });
    const latest = await ask(OPS.GetLatestImageDetails, { image: 'registry.test/web:1', flyVersion: null });
    assert.match(latest.errors?.[0]?.message ?? '', /Unknown repository/);
  });

  it('gives the releases hangar deploy wrote, with the config of the current one', async () => {
    const latest = (await answer(OPS.LatestImage, { appName: 'web' }, 'LatestImage')).app.currentReleaseUnprocessed;
    assert.deepEqual({ version: latest.version, imageRef: latest.imageRef }, { version: 1, imageRef: 'registry.test/web:1' });
    assert.deepEqual((await answer(OPS.FlyctlConfigCurrentRelease, { appName: 'web' }, 'FlyctlConfigCurrentRelease')).app.currentReleaseUnprocessed.configDefinition, { app: 'web', env: { A: 'b' } });
    // fly-go sends a variable its query does not declare (`status`): it is ignored.
    const releases = (await answer(OPS.GetAppReleasesMachines, { appName: 'web', limit: 25, status: 'complete' })).app.releases.nodes;
    assert.deepEqual(goDecodeErrors(releases, slice(struct('Release', { id: str, version: int32, description: str, reason: str, status: str, imageRef: str, stable: bool, createdAt: time }))), []);
    assert.equal(releases[0].stable, true);
    assert.deepEqual((await answer(OPS.GetAppScopedEgressIPAddresses, { appName: 'web' })).app.egressIpAddresses.nodes, []);
    assert.deepEqual((await answer(OPS.GetAppHostIssues, { appName: 'web' })).apphostissues.hostIssues.nodes, []);
  });

  it('answers what it does not serve, and what is malformed, with errors and a 200; refuses callers without the token', async () => {
    const wireguard = await ask('mutation($input: AddWireGuardPeerInput!) { addWireGuardPeer(input: $input) { peerip endpointip pubkey } }', { input: {} });
    assert.ok((wireguard.errors?.length ?? 0) > 0);
    assert.ok((await ask('query { app(name: "web") { secretsFromTheFuture } }')).errors?.[0]?.message.includes('secretsFromTheFuture'));
    assert.ok((await ask('query { {{{')).errors?.[0]?.message.startsWith('Syntax Error'));
    const aliases = Array.from({ length: 400 }, (_, i) => `a${i}: app(name: "web") { name }`).join(' ');
    assert.match((await ask(`query { ${aliases} }`)).errors?.[0]?.message ?? '', /at most 300 fields/);
    const anonymous = await t.hangar.app.inject({ method: 'POST', url: '/graphql', payload: { query: OPS.GetCurrentUser } });
    assert.equal(anonymous.statusCode, 401);
  });
});
