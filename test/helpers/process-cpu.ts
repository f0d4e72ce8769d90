/** How much CPU host processes use, read from /proc (user + system time). */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU time a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  // Fields after the command (which may hold spaces) end with ") "; utime and stime are the 14th and 15th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** Each process's CPU use over the next `ms`, in % of one CPU. */
export async function cpuPercentOver(pids: number[], ms: number): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  const started = performance.now();
  await sleep(ms);
  const elapsedS = (performance.now() - started) / 1000;
  return pids.map((pid, i) => (100 * (cpuSeconds(pid) - before[i]!)) / elapsedS);
}
