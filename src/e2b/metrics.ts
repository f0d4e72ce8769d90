/**
 * A sandbox's resource metrics (E2B's `getMetrics`): the samples its agent keeps
 * (every 5 s, the last hour; src/guest/envd/metrics.go), read through its control
 * socket. What the guest prints is checked like any input, and its times are moved
 * onto hangar's clock by the difference between the two clocks at the read. A
 * paused sandbox has none to give: it answers an empty list.
 */
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { execMachine } from '../control/actions.ts';
import type { ControlDeps } from '../control/ports.ts';
import { HangarError } from '../domain/errors.ts';
import { SANDBOX_AGENT_PATH } from '../guest/sandbox-agent.ts';
import type { KeyRecord } from './records.ts';
import { sandboxMachine } from './sandboxes.ts';

const Count = Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Printed = Compile(Type.Object({
  now: Type.Integer({ minimum: 0 }),
  samples: Type.Array(Type.Object({
    ts: Type.Integer({ minimum: 0 }),
    cpuCount: Type.Integer({ minimum: 0, maximum: 1024 }),
    cpuUsedPct: Type.Number({ minimum: 0, maximum: 100 }),
    memUsed: Count, memTotal: Count, memCache: Count, diskUsed: Count, diskTotal: Count,
  }), { maxItems: 1000 }),
}));

/** One of E2B's `SandboxMetric`s. */
export interface SandboxMetric {
  timestamp: string;
  timestampUnix: number;
  cpuCount: number;
  cpuUsedPct: number;
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}

export interface MetricsRange {
  /** Unix seconds, both ends included. */
  start?: number;
  end?: number;
}

export async function sandboxMetrics(deps: ControlDeps, key: KeyRecord, id: string, range: MetricsRange): Promise<SandboxMetric[]> {
  const { machine, sandbox } = await sandboxMachine(deps, key, id);
  if (sandbox.state !== 'running') return [];
  const read = await execMachine(deps, machine.appName, id, { command: [SANDBOX_AGENT_PATH, '-metrics'], timeout: 10 });
  const hostNow = deps.clock.now();
  let printed: unknown;
  try {
    printed = JSON.parse(read.stdout);
  } catch {
    printed = undefined;
  }
  if (read.exit_code !== 0 || !Printed.Check(printed)) throw new HangarError('internal', `sandbox ${id}'s agent gave no metrics: ${read.stderr.trim().slice(0, 200)}`);
  const skew = hostNow - printed.now;
  const from = Math.max(sandbox.startedAt, (range.start ?? 0) * 1000);
  const to = range.end === undefined ? Infinity : range.end * 1000 + 999;
  return printed.samples
    .map((sample) => ({ ...sample, ts: sample.ts + skew }))
    // A fork's agent holds its parent's samples too: only the sandbox's own are its.
    .filter((sample) => sample.ts >= from - 1000 && sample.ts <= to)
    .map(({ ts, ...rest }) => ({ timestamp: new Date(ts).toISOString(), timestampUnix: Math.floor(ts / 1000), ...rest }));
}
