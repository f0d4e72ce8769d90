/**
 * flyctl's app- and account-level commands, replayed call by call in its order
 * (shared/research/flyctl-compat.md §3): `fly apps create`, `fly apps list`, `fly orgs
 * list`, `fly auth whoami`, `fly platform regions`, `fly status`, `fly scale count`,
 * `fly logs`. Each returns what flyctl would show from the answers.
 */
import assert from 'node:assert/strict';
import { type Call, flyAppsMachines, type FlyMachine, graphql, ok, required } from './call.ts';

/** `fly apps create NAME [--json]`: the org picked as `prompt.Org` picks it, the app made and waited for. */
export async function flyAppsCreate(call: Call, app: string, options: { json?: boolean } = {}): Promise<string[]> {
  const orgs = (await required(call, 'GetOrganizations', { admin: false })).organizations.nodes as Array<{ slug: string; type: string }>;
  const personal = orgs.filter((org) => org.type === 'PERSONAL');
  assert.equal(personal.length, 1, 'one PERSONAL org, which flyctl picks without asking');
  await ok(call('POST', '/v1/apps?wait=true', { name: app, org_slug: personal[0]?.slug, network: '', app_role_id: '' }), 201);
  await ok(call('GET', `/v1/apps/${app}`));
  if (options.json) {
    const full = (await required(call, 'GetApp', { appName: app })).app;
    return [JSON.stringify({ ID: full.id, Name: full.name, Organization: full.organization, Hostname: full.hostname, Deployed: full.deployed })];
  }
  return [`New app created: ${app}`];
}

/** `fly apps list`: pages of apps, each row as flyctl renders it. */
export async function flyAppsList(call: Call): Promise<Array<{ name: string; owner: string; status: string; deployed: boolean; latestDeploy: string }>> {
  const rows = [];
  let after: string | null = null;
  for (;;) {
    const { apps } = await required(call, 'AppsList', { org: null, after });
    for (const app of apps.nodes) rows.push({ name: app.name, owner: app.organization.slug, status: app.status, deployed: app.deployed, latestDeploy: app.currentRelease?.createdAt ?? '' });
    if (!apps.pageInfo.hasNextPage) return rows;
    after = apps.pageInfo.endCursor;
  }
}

/** `fly orgs list`: name, slug and type of each. */
export async function flyOrgsList(call: Call): Promise<Array<{ name: string; slug: string; type: string }>> {
  const { organizations } = await required(call, 'GetOrganizations', { admin: false });
  return organizations.nodes.map(({ name, slug, type }: { name: string; slug: string; type: string }) => ({ name, slug, type }));
}

/** `fly auth whoami`: the viewer's email. */
export async function flyAuthWhoami(call: Call): Promise<string> {
  return (await required(call, 'GetCurrentUser', {})).viewer.email;
}

/** `fly platform regions`: flaps only. */
export async function flyPlatformRegions(call: Call): Promise<string[]> {
  return (await ok(call('GET', '/v1/platform/regions'))).regions.map((region: { code: string }) => region.code);
}

export interface Status {
  app: { name: string; owner: string; hostname: string; image: string };
  machines: Array<{ id: string; version: string; region: string; state: string }>;
  updatesAvailable: boolean;
}

/** `fly status`: the app, its active machines, and the image update check for each image. */
export async function flyStatus(call: Call, app: string): Promise<Status> {
  const compact = (await required(call, 'GetAppCompact', { appName: app })).appcompact;
  const machines = (await ok(call('GET', `/v1/apps/${app}/machines`)) as Array<FlyMachine & { image_ref: { repository: string; tag: string } }>)
    .filter((machine) => !['destroyed', 'destroying'].includes(machine.state) && machine.config.metadata?.fly_process_group !== 'fly_app_release_command');
  let updatesAvailable = false;
  for (const image of new Set(machines.map((machine) => `${machine.image_ref.repository}:${machine.image_ref.tag}`))) {
    if (image.split(':').at(-1)?.startsWith('deployment-')) continue;
    const { data, errors } = await graphql(call, 'GetLatestImageDetails', { image, flyVersion: null });
    // Anything but "Unknown repository" is fatal; an answer would print "Updates available".
    if (errors) assert.match(errors[0]?.message ?? '', /Unknown repository/);
    else updatesAvailable ||= Boolean(data.latestImageDetails);
  }
  // getImage: the image of the machines at the highest release version.
  const newest = machines.reduce<(typeof machines)[number] | undefined>((best, machine) => (Number(machine.config.metadata?.fly_release_version ?? 0) >= Number(best?.config.metadata?.fly_release_version ?? -1) ? machine : best), undefined);
  return {
    app: { name: compact.name, owner: compact.organization.slug, hostname: compact.hostname, image: newest ? `${newest.image_ref.repository}:${newest.image_ref.tag}` : '-' },
    machines: machines.map((machine) => ({ id: machine.id, version: machine.config.metadata?.fly_release_version ?? '', region: machine.region, state: machine.state })),
    updatesAvailable,
  };
}

/**
 * `fly scale count N` (scaling up): the current release's config (tolerated), the
 * machines, the releases (fatal if none), the volumes, then new machines like the
 * app's, with the newest release's image and its id and version in their metadata.
 */
export async function flyScaleCount(call: Call, app: string, count: number): Promise<FlyMachine[]> {
  await graphql(call, 'FlyctlConfigCurrentRelease', { appName: app });
  const machines = await flyAppsMachines(call, app);
  const releases = (await required(call, 'GetAppReleasesMachines', { appName: app, limit: 25 })).app.releases.nodes;
  assert.ok(releases.length > 0, 'scale count stops when the app has no release');
  const [newest] = releases;
  await ok(call('GET', `/v1/apps/${app}/volumes`));
  const [template] = machines;
  assert.ok(template, 'a machine to scale from');
  const launched: FlyMachine[] = [];
  for (let i = machines.length; i < count; i++) {
    const metadata = { ...template.config.metadata, fly_release_id: newest.id, fly_release_version: String(newest.version) };
    launched.push(await ok(call('POST', `/v1/apps/${app}/machines`, { region: template.region, config: { ...template.config, image: newest.imageRef, metadata } })));
  }
  for (const machine of launched) await ok(call('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=started&instance_id=${machine.instance_id}&timeout=60`));
  return launched;
}

export interface LogLine {
  timestamp: string;
  instance: string;
  region: string;
  level: string;
  message: string;
}

/** `fly logs --no-tail`: one poll of the app's logs (tail mode polls again with `next_token`). */
export async function flyLogs(call: Call, app: string, nextToken = ''): Promise<{ lines: LogLine[]; nextToken: string }> {
  const { data, meta } = await ok(call('GET', `/api/v1/apps/${app}/logs?next_token=${encodeURIComponent(nextToken)}&instance=&region=`));
  assert.equal(typeof meta.next_token, 'string');
  return { lines: data.map((entry: { attributes: LogLine }) => entry.attributes), nextToken: meta.next_token };
}
