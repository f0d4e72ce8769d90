/**
 * `fly deploy --image` and the restart `fly secrets set` makes, replayed call by call
 * in flyctl's order (internal/command/deploy: deploy.go, deploy_build.go,
 * machines.go, deploy_first.go, machines_deploymachinesapp.go,
 * machines_launchinput.go), each answer checked for what flyctl reads from it.
 */
import assert from 'node:assert/strict';
import { type Call, flyAppsMachines, type FlyMachine, graphql, NONCE, ok, required, underLeases } from './call.ts';

export const FLYCTL_VERSION = '0.3.200';

export interface Release {
  id: string;
  version: number;
}

export interface Deployed {
  release: Release;
  /** The image the machines were given: `ref@digest` when the image has a digest. */
  ref: string;
  machines: FlyMachine[];
  printed: string[];
}

/** The config flyctl sends as the release's `definition`: a fly.toml with an http service. */
export function flyToml(app: string, region: string) {
  return { app, primary_region: region, http_service: { internal_port: 8080, auto_stop_machines: 'stop', auto_start_machines: true, min_machines_running: 0 } };
}

/** The image resolved as flyctl's `ResolveImageForApp` and its builds around it. */
async function resolveImage(call: Call, app: string, image: string, org: string): Promise<{ ref: string; buildId: number }> {
  // The org is fatal (uiex GetOrganization); builds are tolerated, and hangar builds nothing.
  assert.equal((await ok(call('GET', `/api/v1/organizations/${org}`))).organization.slug, org);
  const build = await ok(call('POST', '/api/v1/builds', { app_name: app, builder_type: 'remote', strategies_available: ['nixpacks'] }));
  assert.equal(typeof build.id, 'number', 'a build id flyctl decodes as int64');
  const resolved = (await required(call, 'ResolveImageForApp', { appName: app, imageRef: image })).app.image;
  assert.ok(resolved, `the image ${image} resolves`);
  await ok(call('POST', '/api/v1/builds/finish', { build_id: build.id, status: 'completed', final_image: { id: resolved.id, tag: resolved.ref, size_bytes: Number(resolved.compressedSize) } }));
  return { ref: resolved.digest ? `${resolved.ref}@${resolved.digest}` : resolved.ref, buildId: build.id };
}

/** `createReleaseInBackend`, the egress addresses (tolerated), then the release set running (fatal). */
async function beginRelease(call: Call, app: string, body: { definition: unknown; image: string; build_id: number | null }): Promise<Release> {
  const { release } = await ok(call('POST', '/api/v1/releases', { app_name: app, strategy: 'ROLLING', ...body }), 201);
  assert.ok(typeof release.id === 'string' && Number.isInteger(release.version), JSON.stringify(release));
  await graphql(call, 'GetAppScopedEgressIPAddresses', { appName: app });
  await ok(call('PATCH', `/api/v1/releases/${release.id}`, { status: 'running', metadata: null }));
  return release;
}

async function endRelease(call: Call, release: Release, error = '') {
  await ok(call('PATCH', `/api/v1/releases/${release.id}`, { status: error ? 'failed' : 'complete', metadata: { post_deployment_info: { flyctl_version: FLYCTL_VERSION, error } } }));
}

/** `setMachineReleaseData`: the release a machine was changed by, in its metadata. */
function withRelease(config: FlyMachine['config'], release: Release) {
  return {
    ...config,
    metadata: { fly_platform_version: 'v2', fly_process_group: 'app', ...config.metadata, fly_release_id: release.id, fly_release_version: String(release.version), fly_flyctl_version: FLYCTL_VERSION },
  };
}

/** A launch for a first deploy (`launchInputForLaunch`): the fly.toml as a machine config, in the release. */
function firstMachineConfig(ref: string, region: string, release: Release) {
  const service = { protocol: 'tcp', internal_port: 8080, autostop: 'stop', autostart: true, min_machines_running: 0, ports: [{ port: 80, handlers: ['http'], force_https: true }, { port: 443, handlers: ['http', 'tls'] }] };
  return withRelease({ image: ref, env: { PRIMARY_REGION: region, FLY_PROCESS_GROUP: 'app' }, services: [service], guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } }, release);
}

async function waitFor(call: Call, app: string, machine: { id: string; instance_id: string }, state: string) {
  await ok(call('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=${state}&instance_id=${machine.instance_id}&timeout=60`));
  return ok(call('GET', `/v1/apps/${app}/machines/${machine.id}`)) as Promise<FlyMachine>;
}

/**
 * `updateExistingMachines`, rolling: each machine under its lease, updated with the
 * new config (`skip_launch` for one that is not running), waited for if launched,
 * read back.
 */
async function updateMachines(call: Call, app: string, machines: FlyMachine[], configFor: (machine: FlyMachine) => FlyMachine['config'], minSecretsVersion?: number): Promise<FlyMachine[]> {
  return underLeases(call, app, machines, async (leased) => {
    const updated: FlyMachine[] = [];
    for (const machine of leased) {
      const skipLaunch = !['started', 'starting', 'failed'].includes(machine.state);
      const body = { config: configFor(machine), region: machine.region, skip_launch: skipLaunch, ...(minSecretsVersion ? { min_secrets_version: minSecretsVersion } : {}) };
      const changed = await ok(call('POST', `/v1/apps/${app}/machines/${machine.id}`, body, { [NONCE]: machine.nonce }));
      // A machine updated but not launched is not waited for.
      updated.push(skipLaunch ? await ok(call('GET', `/v1/apps/${app}/machines/${machine.id}`)) : await waitFor(call, app, changed, 'started'));
    }
    return updated;
  });
}

/**
 * `fly deploy --image IMAGE` beside a fly.toml. A first deploy (no machines yet)
 * provisions addresses and launches `count` machines; a later one updates the
 * machines a deploy made.
 */
export async function flyDeploy(call: Call, app: string, image: string, region: string, count = 2): Promise<Deployed> {
  const printed: string[] = [];
  const flapsApp = await ok(call('GET', `/v1/apps/${app}`));
  const { ref, buildId } = await resolveImage(call, app, image, flapsApp.organization.slug);
  const existing = await flyAppsMachines(call, app);
  await ok(call('GET', `/v1/apps/${app}/volumes`));
  const first = existing.length === 0;
  if (first) {
    // provisionIpsOnFirstDeploy: addresses only when the app has none (an error is printed, not fatal).
    const { ips } = await ok(call('GET', `/v1/apps/${app}/ip_assignments`));
    if (ips.length === 0) {
      const v6 = await call('POST', `/v1/apps/${app}/ip_assignments`, { type: 'v6' });
      printed.push(v6.status === 200 ? `  Dedicated ipv6: ${v6.body.ip}` : `Failed to provision IP addresses. Use \`fly ips\` commands to remediate it. ERROR: ${v6.body.error}`);
    }
  }
  const release = await beginRelease(call, app, { definition: flyToml(app, region), image: ref, build_id: buildId });
  let machines: FlyMachine[];
  if (first) {
    const launched: FlyMachine[] = [];
    for (let i = 0; i < count; i++) launched.push(await ok(call('POST', `/v1/apps/${app}/machines`, { region, config: firstMachineConfig(ref, region, release) })));
    machines = [];
    for (const machine of launched) machines.push(await waitFor(call, app, machine, 'started'));
    printed.push(`Finished launching new machines`);
  } else {
    printed.push(`Updating existing machines in '${app}' with rolling strategy`);
    machines = await updateMachines(call, app, existing, (machine) => withRelease({ ...machine.config, image: ref }, release));
  }
  await endRelease(call, release);
  for (const machine of machines) assert.equal(machine.config.metadata.fly_release_id, release.id, 'each machine carries the release');
  printed.push(`Visit your newly deployed app at https://${app}.fly.dev/`);
  return { release, ref, machines, printed };
}

/**
 * `DeploySecrets` on a deployed app: a restart-only deployment of the config and
 * image of the current release (`FlyctlConfigCurrentRelease`, `LatestImage`), as a
 * new release, each machine updated with its own config and `min_secrets_version`.
 */
export async function flyRestartForSecrets(call: Call, app: string, minSecretsVersion: number): Promise<{ release: Release; machines: FlyMachine[] }> {
  const current = (await required(call, 'FlyctlConfigCurrentRelease', { appName: app })).app.currentReleaseUnprocessed;
  assert.ok(current?.configDefinition, 'the deployed config, which flyctl uses instead of the local fly.toml');
  await ok(call('GET', `/v1/apps/${app}`));
  const machines = await flyAppsMachines(call, app);
  await ok(call('GET', `/v1/apps/${app}/volumes`));
  const latest = (await required(call, 'LatestImage', { appName: app })).app.currentReleaseUnprocessed;
  const release = await beginRelease(call, app, { definition: current.configDefinition, image: latest.imageRef, build_id: null });
  const restarted = await updateMachines(call, app, machines, (machine) => withRelease(machine.config, release), minSecretsVersion);
  await endRelease(call, release);
  return { release, machines: restarted };
}
