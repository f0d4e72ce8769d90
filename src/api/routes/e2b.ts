/**
 * E2B's control-plane API under `/e2b` (so `E2B_API_URL=http://HOST:4280/e2b`),
 * as the `e2b` SDK calls it (e2b-compat.md §2): v1 and v2 create, connect
 * (v1, v2 and the older resume), get, list (v1, and v2 with metadata and state
 * filters and `X-Next-Token` pages), kill, timeout, pause, fork, snapshots
 * (created, listed, deleted; used as templates), metrics. Callers authenticate
 * with `X-API-Key`; every error is E2B's `{"code": status, "message"}`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import { HangarError, HTTP_STATUS } from '../../domain/errors.ts';
import { MAX_FORK_COUNT } from '../../control/fork.ts';
import type { ControlDeps } from '../../control/ports.ts';
import type { Api } from './types.ts';
import { findKey, type KeyRecord } from '../../e2b/records.ts';
import { CLIENT_ID, ENVD_VERSION, type SandboxView } from '../../e2b/sandbox-machine.ts';
import { sandboxMetrics } from '../../e2b/metrics.ts';
import { createSnapshot, deleteSnapshot, listSnapshots, snapshotView } from '../../e2b/snapshots.ts';
import { connectSandbox, createSandbox, forkSandbox, getSandbox, killSandbox, listSandboxes, MAX_TIMEOUT_S, pauseSandbox, setSandboxTimeout } from '../../e2b/sandboxes.ts';

export interface E2bOptions {
  /** The domain sandboxes are reached under (`<port>-<id>.<domain>`), given to the SDK as `domain`. */
  domain: string;
}

const Id = Type.Object({ sandboxID: Type.String({ maxLength: 64 }) });
const NewSandbox = Type.Object({
  templateID: Type.String({ maxLength: 200 }),
  timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMEOUT_S })),
  metadata: Type.Optional(Type.Union([Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 2048 }), { maxProperties: 50 }), Type.Null()])),
  envVars: Type.Optional(Type.Union([Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}$' }), Type.String({ maxLength: 65536 }), { maxProperties: 500 }), Type.Null()])),
  autoPause: Type.Optional(Type.Boolean()),
  autoResume: Type.Optional(Type.Union([Type.Object({ enabled: Type.Boolean() }), Type.Null()])),
  secure: Type.Optional(Type.Boolean()),
  allow_internet_access: Type.Optional(Type.Boolean()),
  mcp: Type.Optional(Type.Null({ description: 'the MCP gateway is not served' })),
});
const Timeout = Type.Object({ timeout: Type.Integer({ minimum: 0, maximum: MAX_TIMEOUT_S }) });
const ConnectBody = Type.Object({ timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMEOUT_S })), memory: Type.Optional(Type.Boolean()) });
const ListQuery = Type.Object({
  metadata: Type.Optional(Type.String({ maxLength: 8192 })),
  state: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Array(Type.String({ maxLength: 16 }), { maxItems: 2 })])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  nextToken: Type.Optional(Type.String({ maxLength: 64 })),
});

const SnapshotBody = Type.Object({ name: Type.Optional(Type.String({ maxLength: 63 })) });
const SnapshotQuery = Type.Object({
  sandboxID: Type.Optional(Type.String({ maxLength: 64 })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  nextToken: Type.Optional(Type.String({ maxLength: 64 })),
});

/** One page of `all` after the item `nextToken` names, with `X-Next-Token` when more follow. */
function page<T>(reply: FastifyReply, all: T[], idOf: (item: T) => string, query: { limit?: number; nextToken?: string }): T[] {
  const start = query.nextToken ? all.findIndex((item) => idOf(item) === query.nextToken) + 1 : 0;
  const limit = query.limit ?? 100;
  const items = all.slice(start, start + limit);
  const last = items.at(-1);
  if (start + limit < all.length && last !== undefined) void reply.header('x-next-token', idOf(last));
  return items;
}

const keys = new WeakMap<FastifyRequest, KeyRecord>();
const keyOf = (request: FastifyRequest) => keys.get(request) as KeyRecord;

/** E2B's error body. */
function e2bError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.status(status).send({ code: status, message });
}

function handleE2bError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof HangarError) return e2bError(reply, HTTP_STATUS[error.code], error.message);
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return e2bError(reply, 400, `${fastifyError.validationContext ?? 'request'} ${fastifyError.message.replace(/^(body|querystring|params) /, '')}`);
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) return e2bError(reply, fastifyError.statusCode, fastifyError.message);
  request.log.error({ err: error }, 'e2b: unexpected error');
  return e2bError(reply, 500, 'internal error; see the server log');
}

export function e2bRoutes(app: Api, deps: ControlDeps, options: E2bOptions): void {
  void app.register(async (e2b: Api) => {
    e2b.setErrorHandler(handleE2bError);
    e2b.setNotFoundHandler((request, reply) => e2bError(reply, 404, `not found: ${request.method} ${request.url.split('?')[0]}`));
    e2b.addHook('onRequest', async (request, reply) => {
      const header = request.headers['x-api-key'];
      const key = typeof header === 'string' ? await findKey(deps.store, header) : null;
      if (!key) return e2bError(reply, 401, 'invalid or missing X-API-Key');
      keys.set(request, key);
      return undefined;
    });

    const sandboxJson = (sandbox: SandboxView) => ({
      templateID: sandbox.templateID, sandboxID: sandbox.sandboxID, clientID: CLIENT_ID, envdVersion: ENVD_VERSION,
      alias: sandbox.templateID, envdAccessToken: sandbox.token, domain: options.domain,
    });
    const detailJson = (sandbox: SandboxView) => ({
      ...sandboxJson(sandbox),
      startedAt: new Date(sandbox.startedAt).toISOString(), endAt: new Date(sandbox.endAt).toISOString(),
      cpuCount: sandbox.cpuCount, memoryMB: sandbox.memoryMB, diskSizeMB: 0, state: sandbox.state, metadata: sandbox.metadata,
      lifecycle: { onTimeout: sandbox.onTimeout, autoResume: sandbox.autoResume },
    });

    const create = async (request: FastifyRequest<{ Body: Static<typeof NewSandbox> }>, reply: FastifyReply) => {
      const body = request.body;
      const sandbox = await createSandbox(deps, keyOf(request), {
        templateID: body.templateID, timeoutS: body.timeout || undefined, metadata: body.metadata ?? {}, envVars: body.envVars ?? {},
        onTimeout: body.autoPause ? 'pause' : 'kill', autoResume: body.autoResume?.enabled ?? false,
      });
      return reply.status(201).send(sandboxJson(sandbox));
    };
    e2b.post('/sandboxes', { schema: { hide: true, body: NewSandbox } }, create);
    e2b.post('/v2/sandboxes', { schema: { hide: true, body: NewSandbox } }, create);

    const list = async (request: FastifyRequest<{ Querystring: Static<typeof ListQuery> }>, reply: FastifyReply) => {
      const query = request.query;
      const states = (Array.isArray(query.state) ? query.state : (query.state ?? 'running').split(',')).filter((state): state is 'running' | 'paused' => state === 'running' || state === 'paused');
      const metadata = Object.fromEntries(new URLSearchParams(query.metadata ?? ''));
      const all = await listSandboxes(deps, keyOf(request), { states, metadata });
      return reply.send(page(reply, all, (sandbox) => sandbox.sandboxID, query).map(detailJson));
    };
    e2b.get('/sandboxes', { schema: { hide: true, querystring: ListQuery } }, list);
    e2b.get('/v2/sandboxes', { schema: { hide: true, querystring: ListQuery } }, list);

    e2b.get('/sandboxes/:sandboxID', { schema: { hide: true, params: Id } }, async (request) => detailJson(await getSandbox(deps, keyOf(request), request.params.sandboxID)));

    e2b.delete('/sandboxes/:sandboxID', { schema: { hide: true, params: Id } }, async (request, reply) => {
      await killSandbox(deps, keyOf(request), request.params.sandboxID);
      return reply.status(204).send();
    });

    e2b.post('/sandboxes/:sandboxID/timeout', { schema: { hide: true, params: Id, body: Timeout } }, async (request, reply) => {
      await setSandboxTimeout(deps, keyOf(request), request.params.sandboxID, request.body.timeout);
      return reply.status(204).send();
    });

    e2b.post('/sandboxes/:sandboxID/pause', { schema: { hide: true, params: Id } }, async (request, reply) => {
      await pauseSandbox(deps, keyOf(request), request.params.sandboxID);
      return reply.status(204).send();
    });

    const connect = async (request: FastifyRequest<{ Params: Static<typeof Id>; Body: Static<typeof ConnectBody> | undefined }>, reply: FastifyReply) => {
      const { resumed, sandbox } = await connectSandbox(deps, keyOf(request), request.params.sandboxID, request.body?.timeout);
      return reply.status(resumed ? 201 : 200).send(sandboxJson(sandbox));
    };
    for (const path of ['/sandboxes/:sandboxID/connect', '/v2/sandboxes/:sandboxID/connect', '/sandboxes/:sandboxID/resume']) {
      e2b.post(path, { schema: { hide: true, params: Id, body: Type.Optional(ConnectBody) } }, connect);
    }

    const ForkBody = Type.Object({ timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_S })), count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_FORK_COUNT })) });
    e2b.post('/sandboxes/:sandboxID/fork', { schema: { hide: true, params: Id, body: Type.Optional(ForkBody) } }, async (request, reply) => {
      const results = await forkSandbox(deps, keyOf(request), request.params.sandboxID, request.body?.count ?? 1, request.body?.timeout);
      return reply.status(201).send(results.map(({ sandbox, error }) => (sandbox ? { sandbox: sandboxJson(sandbox) } : { error: { code: 500, message: error } })));
    });

    e2b.post('/sandboxes/:sandboxID/snapshots', { schema: { hide: true, params: Id, body: Type.Optional(SnapshotBody) } }, async (request, reply) => {
      return reply.status(201).send(await createSnapshot(deps, keyOf(request), request.params.sandboxID, request.body?.name));
    });
    e2b.get('/snapshots', { schema: { hide: true, querystring: SnapshotQuery } }, async (request, reply) => {
      const all = await listSnapshots(deps, keyOf(request), request.query);
      return reply.send(page(reply, all, (record) => record.templateID, request.query).map(snapshotView));
    });
    e2b.delete('/templates/:templateID', { schema: { hide: true, params: Type.Object({ templateID: Type.String({ maxLength: 200 }) }) } }, async (request, reply) => {
      await deleteSnapshot(deps, keyOf(request), request.params.templateID);
      return reply.status(204).send();
    });

    const MetricsQuery = Type.Object({ start: Type.Optional(Type.Integer({ minimum: 0 })), end: Type.Optional(Type.Integer({ minimum: 0 })) });
    e2b.get('/sandboxes/:sandboxID/metrics', { schema: { hide: true, params: Id, querystring: MetricsQuery } }, async (request) => {
      return sandboxMetrics(deps, keyOf(request), request.params.sandboxID, request.query);
    });
  }, { prefix: '/e2b' });
}
