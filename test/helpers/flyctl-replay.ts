/**
 * `fly apps create` then `fly deploy --image` (a first deploy), replayed call by
 * call in flyctl's order against any hangar (`call` sends one request), each answer
 * checked for what flyctl reads from it. Used on the fake driver (test/api) and on
 * real microVMs (test/e2e).
 */
import assert from 'node:assert/strict';
import { FLYCTL_OPERATIONS } from '../fixtures/flyctl-graphql.ts';

export type Call = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OP = Object.fromEntries(FLYCTL_OPERATIONS.map((op) => [op.name, op.query])) as Record<(typeof FLYCTL_OPERATIONS)[number]['name'], string>;

export const graphql = (call: Call, query: string, variables: Record<string, unknown>) => call('POST', '/graphql', { query, variables });

export interface ReplayedDeploy {
  release: { id: string; version: number };
  ref: string;
  machines: Array<{ id: string; instance_id: string; private_ip: string }>;
}

export async function replayFlyDeploy(call: Call, app: string, image: string, region: string, machines = 2): Promise<ReplayedDeploy> {
  // fly apps create: organizations, then the app through flaps, waited for.
  const orgs = await graphql(call, OP.GetOrganizations, { admin: false });
  const personal = orgs.body.data.organizations.nodes.find((org: { type: string }) => org.type === 'PERSONAL');
  assert.equal((await call('POST', '/v1/apps?wait=true', { app_name: app, name: app, org_slug: personal.slug })).status, 201);
  assert.equal((await call('GET', `/v1/apps/${app}`)).status, 200);

  // fly deploy --image: the app, its org (fatal), a build (tolerated), the image, the build's end.
  const shown = await call('GET', `/v1/apps/${app}`);
  assert.equal((await call('GET', `/api/v1/organizations/${shown.body.organization.slug}`)).status, 200);
  const build = (await call('POST', '/api/v1/builds', { app_name: app, builder_type: 'remote', strategies_available: ['nixpacks'] })).body;
  const resolved = (await graphql(call, OP.ResolveImageForApp, { appName: app, imageRef: image })).body.data.app.image;
  const ref = resolved.digest ? `${resolved.ref}@${resolved.digest}` : resolved.ref;
  await call('POST', '/api/v1/builds/finish', { build_id: build.id, status: 'completed', final_image: { id: resolved.id, tag: resolved.ref, size_bytes: Number(resolved.compressedSize) } });
  // Its machines, volumes and addresses; the release (fatal); egress addresses (tolerated); running (fatal).
  assert.deepEqual((await call('GET', `/v1/apps/${app}/machines`)).body, []);
  assert.equal((await call('GET', `/v1/apps/${app}/volumes`)).status, 200);
  assert.equal((await call('GET', `/v1/apps/${app}/ip_assignments`)).status, 200);
  const definition = { app, primary_region: region, http_service: { internal_port: 8080, auto_stop_machines: 'stop', auto_start_machines: true, min_machines_running: 0 } };
  const created = await call('POST', '/api/v1/releases', { app_name: app, build_id: build.id, definition, image: ref, strategy: 'ROLLING' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const release = created.body.release as { id: string; version: number };
  assert.equal((await graphql(call, OP.GetAppScopedEgressIPAddresses, { appName: app })).status, 200);
  assert.equal((await call('PATCH', `/api/v1/releases/${release.id}`, { status: 'running', metadata: null })).status, 200);
  // The machines, as flyctl launches them for a first deploy, carrying the release.
  const metadata = { fly_platform_version: 'v2', fly_process_group: 'app', fly_release_id: release.id, fly_release_version: String(release.version), fly_flyctl_version: '0.3.200' };
  const service = { protocol: 'tcp', internal_port: 8080, autostop: 'stop', autostart: true, min_machines_running: 0, ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['http', 'tls'] }] };
  const made = [];
  for (let i = 0; i < machines; i++) {
    const machine = await call('POST', `/v1/apps/${app}/machines`, {
      region, config: { image: ref, env: { PRIMARY_REGION: region, FLY_PROCESS_GROUP: 'app' }, metadata, services: [service], guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } },
    });
    assert.equal(machine.status, 200, JSON.stringify(machine.body));
    made.push(machine.body);
  }
  for (const machine of made) {
    assert.equal((await call('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=started&instance_id=${machine.instance_id}&timeout=60`)).status, 200);
  }
  assert.equal((await call('PATCH', `/api/v1/releases/${release.id}`, { status: 'complete', metadata: { post_deployment_info: { flyctl_version: '0.3.200', error: '' } } })).status, 200);
  return { release, ref, machines: made };
}
