/**
 * Suspend → start cycles on several real machines at once, through hangar's API:
 * the stress that showed resumes failing for nothing (`reading the VM state
 * failed: Premature close`). Each start must be a resume, and what the guest
 * holds only in memory (a file in its /dev/shm, its boot) must survive it.
 * Used by test/e2e/suspend-stress.test.ts and bench/suspend-stress.ts.
 */
import { performance } from 'node:perf_hooks';
import { request } from './server-process.ts';

export interface Cycle {
  machine: string;
  cycle: number;
  /** The start's `started` event said `resumed: true`. */
  resumed: boolean;
  coldBootReason?: string;
  /** The guest's /dev/shm marker and boot id are what they were before the first suspend. */
  memoryKept: boolean;
  suspendMs: number;
  resumeMs: number;
  error?: string;
}

type Server = { url: string; token: string };

async function ok(server: Server, method: string, path: string, body?: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reply = await request(server, method, path, body);
  if (reply.status !== 200) throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** What identifies the guest's memory: a marker kept in its tmpfs, and its boot. */
async function memoryMark(server: Server, path: string): Promise<string> {
  const result = await ok(server, 'POST', `${path}/exec`, { command: ['sh', '-c', 'cat /dev/shm/mark /proc/sys/kernel/random/boot_id'] });
  return String(result.stdout);
}

/** Runs `cycles` suspend → start cycles on each machine, the machines in parallel. */
export async function suspendResumeCycles(server: Server, app: string, ids: string[], cycles: number): Promise<Cycle[]> {
  const outcomes: Cycle[] = [];
  await Promise.all(ids.map(async (id) => {
    const path = `/v1/apps/${app}/machines/${id}`;
    const mark = async () => {
      await ok(server, 'POST', `${path}/exec`, { command: ['sh', '-c', `echo ${id}-${Date.now()} > /dev/shm/mark`] });
      return memoryMark(server, path);
    };
    let before = await mark();
    for (let cycle = 0; cycle < cycles; cycle++) {
      const outcome: Cycle = { machine: id, cycle, resumed: false, memoryKept: false, suspendMs: 0, resumeMs: 0 };
      outcomes.push(outcome);
      try {
        const t0 = performance.now();
        await ok(server, 'POST', `${path}/suspend`);
        await ok(server, 'GET', `${path}/wait?state=suspended&timeout=60`);
        const t1 = performance.now();
        await ok(server, 'POST', `${path}/start`);
        await ok(server, 'GET', `${path}/wait?state=started&timeout=60`);
        outcome.suspendMs = t1 - t0;
        outcome.resumeMs = performance.now() - t1;
        const events = (await ok(server, 'GET', path)).events as Array<{ type: string; status: string; request: Record<string, unknown> }>;
        const started = events.find((e) => e.type === 'start' && e.status === 'started')?.request ?? {};
        outcome.resumed = started.resumed === true;
        if (typeof started.cold_boot_reason === 'string') outcome.coldBootReason = started.cold_boot_reason;
        outcome.memoryKept = (await memoryMark(server, path)) === before;
        // A machine that booted cold lost its marker: mark it again, so the next cycles judge their own resume.
        if (!outcome.memoryKept) before = await mark();
      } catch (error) {
        outcome.error = (error as Error).message;
        return;
      }
    }
  }));
  return outcomes;
}

/** The cycles that were not clean resumes, one line each. */
export function failedCycles(outcomes: Cycle[]): string[] {
  return outcomes
    .filter((o) => !o.resumed || !o.memoryKept || o.error)
    .map((o) => `${o.machine} #${o.cycle}: ${o.error ?? (o.resumed ? 'memory lost' : `cold boot: ${o.coldBootReason ?? '(no reason given)'}`)}`);
}
