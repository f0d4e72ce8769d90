/**
 * The answers to flyctl's GraphQL queries, from hangar's records: organizations are
 * the org slugs of hangar's apps (with `personal`, the one PERSONAL org), the viewer
 * is the operator, an app's releases are the releases `hangar deploy` writes. Field
 * values are plain values or functions of the field's arguments, as graphql-js's
 * default resolver takes them. Errors carry the texts flyctl matches on: "Could not
 * find App", "Unknown repository".
 */
import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { listReleases } from '../../control/releases.ts';
import type { ControlDeps } from '../../control/ports.ts';
import type { ReleaseRecord } from '../../domain/releases.ts';
import type { MachineRecord } from '../../domain/machine.ts';
import type { AppWithCounts } from '../../store/store.ts';

export interface GraphqlOptions {
  /** The domain apps answer on through the edge proxy: an app's hostname is `<app>.<domain>`. */
  domain: string;
  /** The operator's address, as `viewer { email }` answers it. */
  email: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const PAGE = { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null };
const connection = <T>(nodes: T[]) => ({ nodes, totalCount: nodes.length, pageInfo: PAGE });

function notFound(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } });
}

/** A stable number for an org slug (Fly's internalNumericId): GraphQL sends it as a BigInt's string, uiex as a number. */
export function orgNumber(slug: string): number {
  return createHash('sha256').update(slug).digest().readUInt32BE(0);
}

/** Whether hangar knows the org: `personal`, or the slug of an app's org. */
export async function knownOrg(deps: ControlDeps, slug: string): Promise<boolean> {
  return slug === 'personal' || (await deps.store.listApps(slug)).length > 0;
}

function organization(slug: string) {
  return {
    id: slug, internalNumericId: String(orgNumber(slug)), slug, rawSlug: slug, name: slug,
    type: slug === 'personal' ? 'PERSONAL' : 'SHARED', paidPlan: false, billable: false, viewerRole: 'admin',
  };
}

function releaseStatus(release: ReleaseRecord): string {
  return release.status;
}

function unprocessed(release: ReleaseRecord) {
  return {
    id: release.id, version: release.version, status: releaseStatus(release), description: release.description || `deploy of ${release.image}`,
    reason: release.reason, stable: release.status === 'complete', imageRef: release.image, configDefinition: release.config,
    createdAt: iso(release.createdAt), user: null,
  };
}

function processed(release: ReleaseRecord) {
  const { configDefinition: _definition, ...rest } = unprocessed(release);
  return { ...rest, inProgress: release.status === 'running', evaluationId: null };
}

export function rootValue(deps: ControlDeps, options: GraphqlOptions) {
  const newestComplete = async (appName: string) => (await listReleases(deps, appName, 100)).find((release) => release.status === 'complete');
  const app = (record: AppWithCounts) => {
    const hostname = `${record.name}.${options.domain}`;
    return {
      id: record.id, internalNumericId: record.netNumber, name: record.name, hostname, cnameTarget: hostname, appUrl: `https://${hostname}`,
      deployed: record.machineCount > 0, network: record.network, status: record.machineCount > 0 ? 'deployed' : 'pending',
      platformVersion: 'machines', organization: organization(record.orgSlug), role: null,
      currentRelease: async () => {
        const found = await newestComplete(record.name);
        return found ? processed(found) : null;
      },
      currentReleaseUnprocessed: async () => {
        const found = await newestComplete(record.name);
        return found ? unprocessed(found) : null;
      },
      releasesUnprocessed: async ({ first, status }: { first?: number | null; status?: string | null }) => {
        const releases = (await listReleases(deps, record.name, Math.min(Math.max(first ?? 25, 1), 100)))
          .filter((release) => !status || release.status === status);
        return connection(releases.map(unprocessed));
      },
      // hangar pulls images itself when a machine is made from one: the ref is resolved as given.
      image: ({ ref }: { ref: string }) => ({ id: ref, ref, digest: null, compressedSize: 0, compressedSizeFull: '0', manifest: null }),
      egressIpAddresses: connection([]),
      hostIssues: connection([]),
      version: async () => (await listReleases(deps, record.name, 1))[0]?.version ?? 0,
      config: async () => ({ definition: (await newestComplete(record.name))?.config ?? {} }),
      // Fly's services of the apps platform before machines: a machine's services are in its config.
      services: [],
      ipAddresses: connection([]),
      sharedIpAddress: null,
      imageDetails: null,
      machines: async () => connection((await deps.store.listMachines(record.name, {})).map(({ machine }) => machineObject(machine))),
    };
  };
  const machineObject = (machine: MachineRecord) => ({
    id: machine.id, name: machine.name, state: machine.state, region: machine.region, config: machine.config, createdAt: iso(machine.createdAt),
    app: () => appNamed(machine.appName),
    ips: { nodes: [{ family: 'v6', kind: 'privatenet', ip: machine.privateIp, maskSize: 48 }] },
    host: { id: machine.hostId ?? 'local' },
  });
  const appNamed = async (name: string) => {
    const found = await deps.store.getAppWithCounts(name);
    if (!found || found.deleting) throw notFound(`Could not find App "${name}"`);
    return app(found);
  };
  return {
    viewer: () => ({ __typename: 'User', id: 'operator', email: options.email, name: 'hangar operator', avatarUrl: '', enablePaidHobby: false }),
    organizations: async () => {
      const slugs = new Set(['personal', ...(await deps.store.listApps()).map((each) => each.orgSlug)]);
      return connection([...slugs].sort().map(organization));
    },
    organization: async ({ id, slug, name }: { id?: string | null; slug?: string | null; name?: string | null }) => {
      const wanted = slug ?? id ?? name;
      if (!wanted) return null;
      if (!(await knownOrg(deps, wanted))) throw notFound(`Could not find Organization "${wanted}"`);
      return organization(wanted);
    },
    apps: async ({ organizationId }: { organizationId?: string | null }) => connection((await deps.store.listApps(organizationId ?? undefined)).filter((each) => !each.deleting).map(app)),
    app: ({ name, id }: { name?: string | null; id?: string | null }) => appNamed(name ?? id ?? ''),
    machine: async ({ machineId }: { machineId: string }) => {
      const machine = await deps.store.getMachineById(machineId);
      if (!machine || machine.state === 'destroyed') throw notFound(`Could not find Machine "${machineId}"`);
      return machineObject(machine);
    },
    latestImageDetails: () => {
      throw notFound('Unknown repository: hangar keeps no registry of images to update to');
    },
  };
}

