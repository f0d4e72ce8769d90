/**
 * The few commands a fake VM runs (see fake-driver.ts): `echo`, `false`,
 * `hostname`, `printenv`, `touch`, `ls`, and the sandbox agent's control commands
 * (`/.hangar/envd -init` and `-metrics`), enough for the control plane's tests.
 */
import { secretsEnv } from '../../domain/secrets.ts';
import type { ExecRequest, ExecResult } from '../driver.ts';
import type { FakeVm } from './fake-host.ts';

/** What the fake keeps of each machine's sandbox agent. */
export interface FakeAgents {
  /** What each machine's agent was told by `/.hangar/envd -init`, by machine id. */
  readonly agentInits: Map<string, string>;
  /** What an agent's `-metrics` prints. */
  agentMetrics(machineId: string): string;
}

/** Runs `request` in the running pretend VM `vm`. */
export function runCommand(vm: FakeVm, request: ExecRequest, agents: FakeAgents): ExecResult {
  const machineId = vm.spec.machineId;
  const [program, ...args] = request.command;
  if (program === 'echo') return { stdout: `${args.join(' ')}\n`, stderr: '', exit_code: 0, exit_signal: 0 };
  if (program === 'hostname') return { stdout: `${vm.spec.machineId}\n`, stderr: '', exit_code: 0, exit_signal: 0 };
  if (program === 'printenv') {
    // The env a boot gave the process: the config's, then the app's secrets over it.
    const value = { ...vm.spec.config.env, ...secretsEnv(vm.spec.config, vm.spec.secrets) }[args[0] ?? ''];
    return { stdout: value === undefined ? '' : `${value}\n`, stderr: '', exit_code: value === undefined ? 1 : 0, exit_signal: 0 };
  }
  if (program === 'false') return { stdout: '', stderr: '', exit_code: 1, exit_signal: 0 };
  if (program === '/.hangar/envd' && args[0] === '-init') {
    // The sandbox agent's control socket (src/guest/envd/control.go): what it was told, kept for tests.
    agents.agentInits.set(machineId, request.stdin ?? '');
    return { stdout: '', stderr: '', exit_code: 0, exit_signal: 0 };
  }
  if (program === '/.hangar/envd' && args[0] === '-metrics') return { stdout: agents.agentMetrics(machineId), stderr: '', exit_code: 0, exit_signal: 0 };
  if (program === 'touch') {
    for (const path of args) vm.files.add(path);
    return { stdout: '', stderr: '', exit_code: 0, exit_signal: 0 };
  }
  if (program === 'ls') {
    const missing = args.filter((path) => !vm.files.has(path));
    const stderr = missing.map((path) => `ls: ${path}: No such file or directory\n`).join('');
    return { stdout: args.filter((path) => vm.files.has(path)).map((path) => `${path}\n`).join(''), stderr, exit_code: missing.length ? 1 : 0, exit_signal: 0 };
  }
  return { stdout: '', stderr: `fake: ${program}: not found\n`, exit_code: 127, exit_signal: 0 };
}
