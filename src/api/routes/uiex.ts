/**
 * The REST routes flyctl calls besides the Machines API and GraphQL (its "uiex"
 * client, internal/uiex in superfly/flyctl): an organization by slug, builds (hangar
 * builds nothing: a build is recorded by number only, as flyctl tolerates), and
 * releases: begun by `fly deploy` with the app's config (`definition`), moved on by
 * PATCH, listed (the releases `hangar deploy` writes); and the app's logs, polled.
 */
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { getApp } from '../../control/app-lookup.ts';
import type { ControlDeps } from '../../control/ports.ts';
import { pollAppLogs } from '../../control/app-logs.ts';
import { beginRelease, findRelease, finishRelease, listReleases, touchRunningRelease } from '../../control/releases.ts';
import { type FlyToml, FlyTomlSchema, type Strategy } from '../../domain/app-config/fly-toml-schema.ts';
import { HangarError, invalid } from '../../domain/errors.ts';
import type { ReleaseRecord } from '../../domain/releases.ts';
import { knownOrg, orgNumber } from '../graphql/resolvers.ts';
import { AppParams } from '../schemas.ts';
import type { Api } from './types.ts';

const tags = ['uiex'];
const definitionCheck = Compile(FlyTomlSchema);

/** flyctl's DeploymentStrategy names → hangar's. */
const STRATEGIES: Record<string, Strategy> = { ROLLING: 'rolling', ROLLING_ONE: 'rolling', IMMEDIATE: 'immediate', SIMPLE: 'immediate', CANARY: 'canary', BLUEGREEN: 'bluegreen' };

const CreateReleaseBody = Type.Object({
  app_name: Type.String({ maxLength: 63 }),
  build_id: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  definition: Type.Unknown(),
  image: Type.String({ minLength: 1, maxLength: 1024 }),
  strategy: Type.Optional(Type.Union([Type.String({ maxLength: 20 }), Type.Null()])),
});
const UpdateReleaseBody = Type.Object({
  status: Type.Union([Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed'), Type.Literal('interrupted')], { description: 'running, complete, failed or interrupted' }),
  metadata: Type.Optional(Type.Unknown()),
});

/** A release as flyctl's uiex.Release decodes it. */
function releaseJson(release: ReleaseRecord) {
  return {
    id: release.id, version: release.version, stable: release.status === 'complete', in_progress: release.status === 'running',
    status: release.status, strategy: release.strategy.toUpperCase(), user: '', created_at: new Date(release.createdAt).toISOString(), image_ref: release.image,
  };
}

/** The error flyctl's PATCH carries in `metadata.post_deployment_info.error`, if any. */
function deployError(metadata: unknown): string {
  const info = (metadata as { post_deployment_info?: { error?: unknown } } | null)?.post_deployment_info;
  return typeof info?.error === 'string' && info.error !== '' ? info.error.slice(0, 2000) : '';
}

export function uiexRoutes(api: Api, deps: ControlDeps): void {
  api.get('/api/v1/organizations/:slug', { schema: { hide: true, tags, params: Type.Object({ slug: Type.String({ maxLength: 63 }) }) } }, async (request) => {
    const { slug } = request.params;
    if (!(await knownOrg(deps, slug))) throw new HangarError('not_found', `organization not found: ${slug}`);
    return {
      organization: {
        id: slug, internal_numeric_id: orgNumber(slug), slug, raw_slug: slug, name: slug,
        personal: slug === 'personal', paid_plan: false, billable: false, billing_status: 'CURRENT', remote_builder_image: '',
      },
    };
  });

  // hangar builds no images: a build is a number flyctl carries to the release and forgets.
  let builds = 0;
  api.post('/api/v1/builds', { schema: { hide: true, tags } }, async () => ({ id: Date.now() * 1000 + (builds++ % 1000), status: 'started', wallclock_time_ms: 0 }));
  api.post('/api/v1/builds/finish', { schema: { hide: true, tags } }, async () => ({ status: 'finished' }));

  api.post('/api/v1/releases', { bodyLimit: 8 * 1024 * 1024, schema: { hide: true, tags, body: CreateReleaseBody } }, async (request, reply) => {
    const { app_name: appName, definition, image } = request.body;
    await getApp(deps, appName);
    if (!definitionCheck.Check(definition)) {
      const [first] = definitionCheck.Errors(definition);
      throw invalid(`definition: the app's config is not one hangar can deploy (${first ? `${first.instancePath || '/'} ${first.message}` : 'not an object'})`);
    }
    const strategy = STRATEGIES[(request.body.strategy ?? '').toUpperCase()] ?? 'rolling';
    const release = await beginRelease(deps, appName, { image, strategy, config: definition as FlyToml, files: {}, description: 'deploy by flyctl' });
    return reply.status(201).send({ release: releaseJson(release) });
  });

  api.patch('/api/v1/releases/:id', { schema: { hide: true, tags, params: Type.Object({ id: Type.String({ maxLength: 64 }) }), body: UpdateReleaseBody } }, async (request) => {
    const found = await findRelease(deps, request.params.id);
    const { status, metadata } = request.body;
    if (status === 'running') return releaseJson(await touchRunningRelease(deps, found.appName, found.version));
    const reason = status === 'complete' ? '' : deployError(metadata) || `flyctl ended the deploy ${status}`;
    return releaseJson(await finishRelease(deps, found.appName, found.version, status, reason));
  });

  api.get('/api/v1/apps/:app_name/releases', { schema: { hide: true, tags, params: AppParams, querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }) } }, async (request) => {
    return { releases: (await listReleases(deps, request.params.app_name, request.query.limit ?? 25)).map(releaseJson) };
  });

  api.get('/api/v1/apps/:app_name/releases/current', { schema: { hide: true, tags, params: AppParams } }, async (request) => {
    const current = (await listReleases(deps, request.params.app_name, 100)).find((release) => release.status === 'complete');
    if (!current) throw new HangarError('not_found', `app ${request.params.app_name} has no complete release`);
    return releaseJson(current);
  });

  // fly logs polls this (fly-go's GetAppLogs): new console lines of every machine since its next_token.
  const LogsQuery = Type.Object({
    next_token: Type.Optional(Type.String({ maxLength: 16 * 1024 })),
    instance: Type.Optional(Type.String({ maxLength: 64 })),
    region: Type.Optional(Type.String({ maxLength: 16 })),
  });
  api.get('/api/v1/apps/:app_name/logs', { schema: { hide: true, tags, params: AppParams, querystring: LogsQuery } }, async (request) => {
    const gone = new AbortController();
    request.raw.once('close', () => gone.abort());
    const { next_token: token, instance, region } = request.query;
    const page = await pollAppLogs(deps, request.params.app_name, { token, instance, region }, gone.signal);
    const timestamp = new Date(deps.clock.now()).toISOString();
    return {
      data: page.lines.map((line, index) => ({
        id: `${line.machineId}-${deps.clock.now()}-${index}`,
        attributes: { timestamp, message: line.message, level: 'info', instance: line.machineId, region: line.region, meta: { instance: line.machineId, region: line.region, event: { provider: 'app' } } },
      })),
      meta: { next_token: page.token },
    };
  });
}
