/**
 * A host agent's own HTTP API, for API replicas only: what cannot go through the
 * work queue because someone waits for its answer (the guest operations, whose
 * routes come from their table: guest-ops-wire.ts; forks, image pulls, volume
 * files, a moved machine's snapshot: agent-parcels.ts). It is served over TLS with the host's certificate and takes only
 * callers that present a replica's certificate from the cluster's authority
 * (mutual TLS): nothing else on the network, another host included, can drive a
 * host. Machines are taken only if they are placed on this host.
 */
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { ClusterIdentity } from '../system/cluster-pki.ts';
import { identityOf } from '../system/cluster-pki.ts';
import { errorMessage, HangarError, HTTP_STATUS } from '../domain/errors.ts';
import type { HostRuntime, MachineSpec } from '../domain/runtime.ts';
import { addVolumeRoutes, type AgentVolumeOptions } from './agent-volumes.ts';
import { addGuestOpRoutes } from './guest-ops-wire.ts';
import { addParcelRoutes, type AgentParcelOptions } from './agent-parcels.ts';

export interface AgentApiOptions extends AgentVolumeOptions, AgentParcelOptions {
  runtime: HostRuntime;
  /** This host's identity: its certificate is served, and callers must hold a replica's from the same authority. */
  identity: ClusterIdentity;
  /** Whether machine `id` is placed on this host. */
  owns(machineId: string): Promise<boolean>;
  /** What the machine placed on this host is now, read from the database (a fork's children). */
  specOf(machineId: string): Promise<MachineSpec | undefined>;
  /** The host's own metrics (its private network's drops), served at `/metrics`. */
  metrics?: Registry;
}

/** The body every refusal carries: the code lets the replica raise the same error. */
export interface AgentError {
  error: string;
  code: string;
  hint?: string;
}

/** Answers a failed request with its refusal: the replica raises the same error again (agent-client.ts `parse`). */
export function sendRefusal(error: unknown, _request: FastifyRequest, reply: FastifyReply): void {
  const known = error instanceof HangarError ? error : null;
  const code = known?.code ?? ((error as { statusCode?: number }).statusCode === 400 ? 'invalid_argument' : 'internal');
  // A stream already under way (a parcel's file) cannot become an error answer: it is cut, and the reader sees it end short.
  if (reply.raw.headersSent) return void reply.raw.destroy(error as Error);
  // A route may have set another type before it failed (a parcel's octet-stream): the refusal is JSON.
  void reply.status(HTTP_STATUS[code]).type('application/json; charset=utf-8').send({ error: known?.message ?? errorMessage(error), code, hint: known?.hint } satisfies AgentError);
}

export function buildAgentApi(options: AgentApiOptions): FastifyInstance {
  const { identity, runtime } = options;
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    https: { cert: identity.cert, key: identity.key, ca: identity.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
  });
  app.addHook('onRequest', async (request) => {
    const peer = (request.raw.socket as TLSSocket).getPeerCertificate?.();
    if (identityOf(peer?.subjectaltname)?.role !== 'replica') throw new HangarError('forbidden', 'only the cluster\'s API replicas may call a host agent');
  });
  app.setErrorHandler(sendRefusal);

  const machine = async (params: unknown): Promise<string> => {
    const id = String((params as { id?: unknown }).id ?? '');
    if (!/^[0-9a-f]{14}$/.test(id) || !(await options.owns(id))) throw new HangarError('not_found', `machine not found on this host: ${id}`);
    return id;
  };
  const body = (request: { body: unknown }) => (request.body ?? {}) as Record<string, unknown>;

  app.post('/agent/v1/machines/:id/fork', async (request) => {
    const parentId = await machine(request.params);
    const childIds = body(request).children;
    if (!Array.isArray(childIds) || childIds.length === 0 || childIds.length > 64) throw new HangarError('invalid_argument', 'fork needs children (machine ids)');
    const specs = [];
    for (const childId of [parentId, ...childIds]) {
      const spec = await options.specOf(await machine({ id: childId }));
      if (!spec) throw new HangarError('not_found', `machine not found on this host: ${String(childId)}`);
      specs.push(spec);
    }
    const [parent, ...children] = specs;
    await runtime.fork(parent!, children);
    return { ok: true };
  });

  const { metrics } = options;
  if (metrics) app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  addGuestOpRoutes(app, runtime.guest, machine);
  app.post('/agent/v1/images', async (request) => {
    const { reference } = body(request);
    if (typeof reference !== 'string' || reference === '') throw new HangarError('invalid_argument', 'reference is required');
    return runtime.pullImage(reference, () => undefined);
  });
  addVolumeRoutes(app, options);
  addParcelRoutes(app, options, machine);
  return app;
}
