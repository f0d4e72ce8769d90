/**
 * `/hangar/v1/apps/{app}/releases`: a deploy begins a release with what it deploys
 * (POST), and ends it once (POST to the release, with its status); anyone lists them
 * (newest first) and reads one whole, to roll back to it.
 */
import { type Static, Type } from 'typebox';
import type { ControlDeps } from '../../control/ports.ts';
import { beginRelease, finishRelease, getRelease, listReleases, touchRunningRelease } from '../../control/releases.ts';
import { invalid } from '../../domain/errors.ts';
import { type ReleaseRecord, ReleaseSourceSchema } from '../../domain/releases.ts';
import { AppParams } from '../schemas.ts';
import type { Api } from './types.ts';

const tags = ['Releases'];
/** A release's config and files (base64) together: 100 files of up to 1 MiB each would not fit, 8 MiB in all do. */
const MAX_RELEASE_BODY = 8 * 1024 * 1024;

const ReleaseParams = Type.Object({ app_name: Type.String(), version: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'a release\'s version' }) });
const BeginQuery = Type.Object({ leased: Type.Optional(Type.Boolean({ description: 'the deploy holds the lease of every machine it changes, and of at least one: the leases keep other deploys out' })) });
const ListQuery = Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'how many releases, 1 to 100' })) });
const EndBody = Type.Object({
  status: Type.Union([Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed'), Type.Literal('interrupted')], {
    description: 'complete, failed or interrupted: it ends; running: its deploy is still at work',
  }),
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
}, { additionalProperties: false });

/** A release as listed: what it deployed, without the config itself. */
export function releaseSummary(release: ReleaseRecord) {
  return {
    id: release.id, version: release.version, image: release.image, strategy: release.strategy, status: release.status,
    reason: release.reason, description: release.description, config_digest: release.configDigest,
    created_at: new Date(release.createdAt).toISOString(), updated_at: new Date(release.updatedAt).toISOString(),
  };
}

function releaseJson(release: ReleaseRecord) {
  return { ...releaseSummary(release), config: release.config, files: release.files };
}

export function releaseRoutes(api: Api, deps: ControlDeps): void {
  api.get('/hangar/v1/apps/:app_name/releases', { schema: { operationId: 'Releases_list', tags, params: AppParams, querystring: ListQuery } }, async (request) => {
    const releases = await listReleases(deps, request.params.app_name, Number(request.query.limit ?? 25));
    return { releases: releases.map(releaseSummary) };
  });

  api.post('/hangar/v1/apps/:app_name/releases', { bodyLimit: MAX_RELEASE_BODY, schema: { operationId: 'Releases_create', tags, params: AppParams, querystring: BeginQuery, body: ReleaseSourceSchema } }, async (request, reply) => {
    const release = await beginRelease(deps, request.params.app_name, request.body as Static<typeof ReleaseSourceSchema>, request.query.leased === true);
    return reply.status(201).send(releaseJson(release));
  });

  api.get('/hangar/v1/apps/:app_name/releases/:version', { schema: { operationId: 'Releases_show', tags, params: ReleaseParams } }, async (request) => {
    return releaseJson(await getRelease(deps, request.params.app_name, Number(request.params.version)));
  });

  api.post('/hangar/v1/apps/:app_name/releases/:version', { schema: { operationId: 'Releases_end', tags, params: ReleaseParams, body: EndBody } }, async (request) => {
    const { status, reason = '' } = request.body;
    const { app_name: appName, version } = request.params;
    if (status === 'running') return releaseSummary(await touchRunningRelease(deps, appName, Number(version)));
    if (status !== 'complete' && reason === '') throw invalid(`reason: say why a release ends ${status}`);
    return releaseSummary(await finishRelease(deps, appName, Number(version), status, reason));
  });
}
