/**
 * The guest operations (domain/guest-ops.ts) over a host agent's API, both ends
 * built from `GUEST_OPS`: the routes a host serves and the client an API replica
 * calls them with. The host checks every input against its schema (a request is
 * hostile until checked, the replica's included); the replica checks every result.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Response } from 'undici';
import { HangarError } from '../domain/errors.ts';
import { schemaChecker } from '../domain/go-json.ts';
import { GUEST_OP_NAMES, GUEST_OPS, type GuestOpName, type GuestOps } from '../domain/guest-ops.ts';
import type { HostRecord } from '../domain/host.ts';
import { type AgentClient, parse } from './agent-client.ts';

/**
 * One operation, called with an input already checked against its schema: the
 * table's types cannot follow a name chosen at run time, so the checks stand in.
 */
type CheckedOp = (machineId: string, input: unknown, signal?: AbortSignal) => Promise<unknown> | AsyncIterable<string>;

/** Serves every guest operation; `machine` answers the id in the path if that machine is on this host, else throws. */
export function addGuestOpRoutes(app: FastifyInstance, ops: GuestOps, machine: (params: unknown) => Promise<string>): void {
  const checked = ops as unknown as Record<GuestOpName, CheckedOp>;
  for (const name of GUEST_OP_NAMES) {
    const op = GUEST_OPS[name];
    const checkInput = schemaChecker(op.input, name);
    app.post(op.path, async (request, reply) => {
      const id = await machine(request.params);
      checkInput(request.body);
      if ('lines' in op) {
        // The response closes when the replica stops reading (or the stream ends): a follow ends with it.
        const gone = new AbortController();
        reply.raw.once('close', () => gone.abort());
        return sendLines(reply, checked[name](id, request.body, gone.signal) as AsyncIterable<string>);
      }
      const result = await checked[name](id, request.body);
      return result === undefined ? reply.status(204).send() : result;
    });
  }
}

async function sendLines(reply: FastifyReply, lines: AsyncIterable<string>): Promise<FastifyReply> {
  reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  try {
    for await (const line of lines) reply.raw.write(`${line}\n`);
  } finally {
    reply.raw.end();
  }
  return reply;
}

/** The guest operations of machines on other hosts: each a request to the agent of the host `hostOf` names. */
export function remoteGuestOps(agents: Pick<AgentClient, 'fetch'>, hostOf: (machineId: string) => Promise<HostRecord>): GuestOps {
  const ops: Partial<Record<GuestOpName, CheckedOp>> = {};
  for (const name of GUEST_OP_NAMES) {
    const op = GUEST_OPS[name];
    const request = async (machineId: string, input: unknown, signal?: AbortSignal): Promise<Response> =>
      agents.fetch(await hostOf(machineId), 'POST', op.path.replace(':id', machineId), input, signal);
    if ('lines' in op) {
      ops[name] = async function* (machineId, input, signal) {
        const response = await request(machineId, input, signal);
        if (!response.ok) await parse(response); // throws the agent's refusal
        yield* linesOf(response);
      };
    } else {
      const checkResult = schemaChecker(op.result, `the result of ${name}`);
      ops[name] = async (machineId, input) => {
        const result = await parse(await request(machineId, input));
        try {
          checkResult(result);
        } catch (error) {
          throw new HangarError('internal', `the host agent of machine ${machineId} answered ${name} wrongly: ${(error as Error).message}`);
        }
        return result;
      };
    }
  }
  return ops as unknown as GuestOps;
}

async function* linesOf(response: Response): AsyncIterable<string> {
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body ?? []) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    yield* lines;
  }
  if (rest) yield rest;
}
