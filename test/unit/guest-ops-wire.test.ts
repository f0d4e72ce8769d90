import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { fetch, Response } from 'undici';
import { sendRefusal } from '../../src/cluster/agent-api.ts';
import { addGuestOpRoutes, remoteGuestOps } from '../../src/cluster/guest-ops-wire.ts';
import { HangarError } from '../../src/domain/errors.ts';
import { GUEST_OP_NAMES, type GuestOps } from '../../src/domain/guest-ops.ts';
import type { HostRecord } from '../../src/domain/host.ts';

const MINE = 'aaaaaaaaaaaaaa';
const OTHER = 'bbbbbbbbbbbbbb';
const EXEC = { stdout: 'hi\n', stderr: '', exit_code: 0, exit_signal: 0 };
const PS = [{ pid: 1, command: 'hangar-init', cpu: 0, rss: 1024, rtime: 0, stime: 0, directory: '/', listen_sockets: [] }];
const MEMORY = { limit_mb: 256, available_mb: 200 };

/** A host's guest operations that answer fixed results and note every call. */
function guest(): GuestOps & { calls: string[] } {
  const calls: string[] = [];
  const note = (name: string, input: unknown) => calls.push(`${name} ${JSON.stringify(input) ?? ''}`.trim());
  return {
    calls,
    exec: async (_id, input) => (note('exec', input), EXEC),
    ps: async (_id, input) => (note('ps', input), PS),
    signal: async (_id, input) => void note('signal', input),
    memory: async (_id, input) => (note('memory', input), MEMORY),
    setMemoryLimit: async (_id, input) => (note('setMemoryLimit', input), { limit_mb: input.limitMb, available_mb: input.limitMb }),
    reclaimMemory: async (_id, input) => (note('reclaimMemory', input), { reclaimedMb: input.amountMb }),
    logs: async function* (_id, input) {
      note('logs', input);
      yield* ['one', 'two', 'three'].slice(-input.tail);
    },
  };
}

/** A host agent's guest routes, without TLS (agent-api.ts adds it): machine MINE is on this host. */
function agentApi(ops: GuestOps): FastifyInstance {
  const app = Fastify();
  app.setErrorHandler(sendRefusal);
  addGuestOpRoutes(app, ops, async (params) => {
    const id = (params as { id: string }).id;
    if (id !== MINE) throw new HangarError('not_found', `machine not found on this host: ${id}`);
    return id;
  });
  return app;
}

/** A replica's client of `app`, its requests injected. */
function client(app: FastifyInstance): GuestOps {
  const host = { id: 'h1', address: '127.0.0.1:1' } as HostRecord;
  return remoteGuestOps({
    fetch: async (_host, method, path, body) => {
      const answer = await app.inject({ method: method as 'POST', url: path, ...(body === undefined ? {} : { payload: body as object }) });
      return new Response(answer.statusCode === 204 ? null : answer.rawPayload, { status: answer.statusCode });
    },
  }, async () => host);
}

const post = (app: FastifyInstance, op: string, payload?: unknown, id = MINE) =>
  app.inject({ method: 'POST', url: `/agent/v1/machines/${id}/${op}`, ...(payload === undefined ? {} : { payload: payload as object }) });

describe('guest operations over the agent API', () => {
  it('carries every operation from a replica to the host\'s driver and back', async () => {
    const ops = guest();
    const remote = client(agentApi(ops));
    assert.deepEqual(await remote.exec(MINE, { command: ['echo', 'hi'], timeoutMs: 5000 }), EXEC);
    assert.deepEqual(await remote.ps(MINE), PS);
    assert.equal(await remote.signal(MINE, { signal: 'SIGUSR1' }), undefined);
    assert.deepEqual(await remote.memory(MINE), MEMORY);
    assert.deepEqual(await remote.setMemoryLimit(MINE, { limitMb: 512 }), { limit_mb: 512, available_mb: 512 });
    assert.deepEqual(await remote.reclaimMemory(MINE, { amountMb: 64 }), { reclaimedMb: 64 });
    const lines: string[] = [];
    for await (const line of remote.logs(MINE, { tail: 2, follow: false }, new AbortController().signal)) lines.push(line);
    assert.deepEqual(lines, ['two', 'three']);
    assert.deepEqual(ops.calls, [
      'exec {"command":["echo","hi"],"timeoutMs":5000}', 'ps', 'signal {"signal":"SIGUSR1"}', 'memory',
      'setMemoryLimit {"limitMb":512}', 'reclaimMemory {"amountMb":64}', 'logs {"tail":2,"follow":false}',
    ]);
  });

  it('refuses an input that does not fit its operation\'s schema, before the driver sees it', async () => {
    const ops = guest();
    const app = agentApi(ops);
    const hostile: Array<[string, unknown]> = [
      ['exec', { command: ['ls'] }],
      ['exec', { command: 'ls -l', timeoutMs: 1000 }],
      ['exec', { command: [], timeoutMs: 1000 }],
      ['exec', { command: ['ls', 5], timeoutMs: 1000 }],
      ['exec', { command: ['ls'], timeoutMs: 1000, env: { LD_PRELOAD: '/x' } }],
      ['exec', { command: ['ls'], timeoutMs: 1e12 }],
      ['ps', {}],
      ['signal', { signal: 'SIGBOGUS' }],
      ['signal', { signal: 9 }],
      ['signal', { signal: 'constructor' }],
      ['memory/limit', { limitMb: '512' }],
      ['memory/limit', { limitMb: 64 }],
      ['memory/limit', { limitMb: 1e9 }],
      ['memory/reclaim', { amountMb: 0 }],
      ['memory/reclaim', { amountMb: 1.5 }],
      ['logs', { tail: 1e6, follow: false }],
      ['logs', { tail: 10 }],
      ['logs', null],
    ];
    for (const [op, payload] of hostile) {
      const answer = await post(app, op, payload);
      assert.equal(answer.statusCode, 400, `${op} ${JSON.stringify(payload)}: ${answer.body}`);
      assert.equal(answer.json().code, 'invalid_argument');
    }
    assert.deepEqual(ops.calls, [], 'no driver call');
  });

  it('answers only for the machines on its host', async () => {
    const ops = guest();
    const app = agentApi(ops);
    for (const name of GUEST_OP_NAMES) {
      const remote = client(app) as unknown as Record<string, (id: string, input: unknown, signal: AbortSignal) => unknown>;
      const call = async () => {
        const answer = remote[name]!(OTHER, undefined, new AbortController().signal);
        if (Symbol.asyncIterator in (answer as object)) for await (const _ of answer as AsyncIterable<string>) { /* drain */ }
        else await answer;
      };
      await assert.rejects(call, (error: HangarError) => error.code === 'not_found', name);
    }
    assert.deepEqual(ops.calls, []);
  });

  it('stops following a console on the host once the replica stops reading', async () => {
    const ops = guest();
    let stopped!: () => void;
    const followEnded = new Promise<void>((resolve) => { stopped = resolve; });
    ops.logs = async function* (_id, _input, signal) {
      yield 'first';
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      stopped();
    };
    const app = agentApi(ops);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const remote = remoteGuestOps({
        fetch: (_host, method, path, body, signal) =>
          fetch(`${address}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal }),
      }, async () => ({ id: 'h1' }) as HostRecord);
      const reading = new AbortController();
      const lines = remote.logs(MINE, { tail: 10, follow: true }, reading.signal)[Symbol.asyncIterator]();
      assert.deepEqual(await lines.next(), { value: 'first', done: false });
      reading.abort();
      await assert.rejects(lines.next(), { name: 'AbortError' });
      await followEnded;
    } finally {
      await app.close();
    }
  });

  it('refuses a result that does not fit its operation\'s schema on the replica', async () => {
    const ops = guest();
    ops.exec = async () => ({ ...EXEC, exit_code: 'zero' }) as never;
    ops.memory = async () => ({ ...MEMORY, host_path: '/var/lib/hangar' }) as never;
    const remote = client(agentApi(ops));
    await assert.rejects(remote.exec(MINE, { command: ['ls'], timeoutMs: 1000 }), (error: HangarError) => error.code === 'internal' && /exec/.test(error.message));
    await assert.rejects(remote.memory(MINE), (error: HangarError) => error.code === 'internal' && /host_path/.test(error.message));
  });
});
