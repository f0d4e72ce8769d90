/**
 * What every replayed flyctl command shares: one request (`Call`), a GraphQL
 * operation as flyctl writes it (test/fixtures/flyctl-graphql.ts), an answer checked
 * as flyctl checks it, and machines held under flyctl's leases
 * (internal/machine/lease.go: a lease of 120 s each, the machine read again when
 * the lease's version is not the one flyctl holds, released at the end).
 */
import assert from 'node:assert/strict';
import { FLYCTL_OPERATIONS } from '../../fixtures/flyctl-graphql.ts';

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type Call = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

export type Operation = (typeof FLYCTL_OPERATIONS)[number]['name'];
const OPERATIONS = Object.fromEntries(FLYCTL_OPERATIONS.map((op) => [op.name, op.query])) as Record<Operation, string>;

/** A machine as flyctl decodes the fields it reads. */
export interface FlyMachine {
  id: string;
  instance_id: string;
  state: string;
  region: string;
  private_ip: string;
  host_status: string;
  config: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Sends one of flyctl's operations; flyctl reads `errors` from a 200, as the wire rule says every answer is. */
export async function graphql(call: Call, operation: Operation, variables: Record<string, unknown>): Promise<{ data: any; errors?: Array<{ message: string }> }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await call('POST', '/graphql', { query: OPERATIONS[operation], variables });
  assert.equal(reply.status, 200, `${operation}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** The data of an operation flyctl cannot go on without (its error would end the command). */
export async function required(call: Call, operation: Operation, variables: Record<string, unknown>) {
  const { data, errors } = await graphql(call, operation, variables);
  assert.equal(errors, undefined, `${operation}: ${JSON.stringify(errors)}`);
  return data;
}

/** The body of an answer flyctl needs, checked for the status flyctl's client takes as success. */
export async function ok(reply: Promise<Reply>, status = 200) {
  const { status: got, body } = await reply;
  assert.equal(got, status, JSON.stringify(body));
  return body;
}

export const NONCE = 'fly-machine-lease-nonce';

/**
 * `mach.AcquireLeases`, then `run` with each machine as re-read under its lease,
 * then every lease released, as flyctl does whether `run` succeeded or not.
 */
export async function underLeases<T>(call: Call, app: string, machines: FlyMachine[], run: (leased: Array<FlyMachine & { nonce: string }>) => Promise<T>): Promise<T> {
  const leased: Array<FlyMachine & { nonce: string }> = [];
  try {
    for (const machine of machines) {
      assert.equal(machine.host_status, 'ok', 'flyctl leases only machines whose host is ok');
      const lease = await ok(call('POST', `/v1/apps/${app}/machines/${machine.id}/lease?ttl=120`), 201);
      const nonce = lease.data.nonce as string;
      assert.ok(nonce, 'the lease carries a nonce');
      const current = lease.data.version === machine.instance_id ? machine : await ok(call('GET', `/v1/apps/${app}/machines/${machine.id}`));
      leased.push({ ...current, nonce });
    }
    return await run(leased);
  } finally {
    for (const machine of leased) {
      // releaseLease: flyctl says nothing of "lease not found" (a destroyed machine's), and only prints other failures.
      const released = await call('DELETE', `/v1/apps/${app}/machines/${machine.id}/lease`, undefined, { [NONCE]: machine.nonce });
      if (released.status !== 200) assert.match(String(released.body?.error), /not found/, `releasing the lease of ${machine.id}`);
    }
  }
}

/** flaps' ListFlyAppsMachines: the app's machines that a deploy made (platform version v2). */
export async function flyAppsMachines(call: Call, app: string): Promise<FlyMachine[]> {
  const machines = await ok(call('GET', `/v1/apps/${app}/machines`)) as FlyMachine[];
  return machines.filter((machine) => machine.config.metadata?.fly_platform_version === 'v2');
}
