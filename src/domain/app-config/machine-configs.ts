/**
 * A `fly.toml` (fly-toml.ts) as the machine config of each process group, as
 * flyctl's ToMachineConfig builds it (appconfig/machines.go): the `[env]` with
 * FLY_PROCESS_GROUP and PRIMARY_REGION, the metadata fly-go based tools read, the
 * services (http_service first, on ports 80 and 443), checks, guest, mounts, restart
 * policy, files and stop config of that group. Sections that name no processes
 * belong to the default group ("app", or the first name), except `[[vm]]`, which
 * then sizes every group. Also the rules flyctl checks before a deploy.
 */
import { parse as shellWords } from 'shell-quote';
import { invalid } from '../errors.ts';
import type { FlyToml } from './fly-toml-schema.ts';

export interface Release {
  id: string;
  version: number;
}

/** Where a machine config's file content comes from when the fly.toml gives a `local_path` (read by the caller). */
export type LocalFiles = ReadonlyMap<string, string>;

/** The process groups, sorted: `[processes]`' names, else "app". */
export function processGroups(config: FlyToml): string[] {
  const names = Object.keys(config.processes ?? {}).sort();
  return names.length > 0 ? names : ['app'];
}

export function defaultGroup(config: FlyToml): string {
  const groups = processGroups(config);
  return groups.includes('app') ? 'app' : groups[0] as string;
}

/** Whether a section listing `processes` belongs to `group`: with none listed, only the default group's. */
function belongs(config: FlyToml, group: string, processes: string[] | undefined): boolean {
  return processes && processes.length > 0 ? processes.includes(group) : group === defaultGroup(config);
}

/** Refuses what flyctl's validation refuses, and what hangar cannot do, naming the key. */
export function checkFlyToml(config: FlyToml): void {
  const groups = processGroups(config);
  const named = (where: string, processes: string[] | undefined) => {
    for (const name of processes ?? []) if (!groups.includes(name)) throw invalid(`${where}.processes: no process group ${JSON.stringify(name)} in [processes]`);
  };
  if (config.statics?.length) throw invalid('[[statics]]: hangar serves no static files from the proxy; serve them from the app');
  if (config.processes) {
    for (const [name, command] of Object.entries(config.processes)) {
      if (!/^[a-z0-9_-]{1,63}$/i.test(name)) throw invalid(`processes.${name}: a process group's name is letters, digits, - and _`);
      commandWords(command, `processes.${name}`);
    }
    if (config.http_service && !config.http_service.processes?.length) throw invalid('http_service.processes: with [processes], say which groups serve it');
    config.services?.forEach((service, index) => {
      if (!service.processes?.length) throw invalid(`services.${index}.processes: with [processes], say which groups serve it`);
    });
  }
  named('http_service', config.http_service?.processes);
  config.services?.forEach((service, index) => named(`services.${index}`, service.processes));
  for (const [name, check] of Object.entries(config.checks ?? {})) named(`checks.${name}`, check.processes);
  config.vm?.forEach((vm, index) => named(`vm.${index}`, vm.processes));
  config.restart?.forEach((restart, index) => named(`restart.${index}`, restart.processes));
  config.files?.forEach((file, index) => {
    named(`files.${index}`, file.processes);
    const sources = [file.local_path, file.secret_name, file.raw_value].filter((source) => source !== undefined);
    if (sources.length !== 1) throw invalid(`files.${index}: give exactly one of local_path, secret_name or raw_value`);
  });
  config.mounts?.forEach((mount, index) => named(`mounts.${index}`, mount.processes));
  for (const group of groups) {
    if ((config.mounts ?? []).filter((mount) => belongs(config, group, mount.processes)).length > 1) {
      throw invalid(`mounts: group '${group}' has more than one [[mounts]] section defined`);
    }
  }
  const strategy = config.deploy?.strategy;
  if ((strategy === 'canary' || strategy === 'bluegreen') && config.mounts?.length) {
    throw invalid(`deploy.strategy: ${strategy} deployments are not supported with mounted volumes (a volume has one machine); use rolling or immediate`);
  }
  if (config.deploy?.release_command !== undefined) commandWords(config.deploy.release_command, 'deploy.release_command');
  for (const group of groups) guestFor(config, group);
}

/** A command line as words, as flyctl splits it (shlex); refused with shell operators in it. */
export function commandWords(command: string, field: string): string[] {
  const words = shellWords(command);
  if (!words.every((word) => typeof word === 'string')) throw invalid(`${field}: a command is words, with no shell operators (run a shell: sh -c '…')`);
  return words as string[];
}

const PRESETS: Record<string, { cpu_kind: 'shared' | 'performance'; cpus: number; memory_mb: number }> = Object.fromEntries([
  ...[1, 2, 4, 6, 8].map((n) => [`shared-cpu-${n}x`, { cpu_kind: 'shared', cpus: n, memory_mb: n * 256 }]),
  ...[1, 2, 4, 6, 8, 10, 12, 14, 16].map((n) => [`performance-${n}x`, { cpu_kind: 'performance', cpus: n, memory_mb: n * 2048 }]),
]);

/** A named machine size (shared-cpu-1x, performance-2x, ...) as a guest. */
export function presetGuest(size: string, field: string): { cpu_kind: 'shared' | 'performance'; cpus: number; memory_mb: number } {
  const preset = PRESETS[size];
  if (!preset) throw invalid(`${field}: '${size}' is not a machine size: one of ${Object.keys(PRESETS).join(', ')}`);
  return { ...preset };
}

/** "1gb", "512mb", "1.5GiB", 512 (MB): binary units, as flyctl reads `memory`. */
export function memoryMb(text: string, field: string): number {
  const match = /^(\d+(?:\.\d+)?) ?([kmgt])?i?b?$/i.exec(text.trim());
  if (!match) throw invalid(`${field}: "${text}" is not a memory size such as "512mb" or "1gb"`);
  const factor = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 }[(match[2] ?? 'm').toLowerCase() as 'k' | 'm' | 'g' | 't'];
  const mb = Math.floor(Number(match[1]) * factor);
  if (mb <= 0) throw invalid(`${field}: memory cannot be zero`);
  return mb;
}

/** The group's guest: its `[[vm]]` (one naming it, else one naming none), from a preset, then `memory`, then the fields given. */
export function guestFor(config: FlyToml, group: string): { cpu_kind: string; cpus: number; memory_mb: number; kernel_args?: string[] } | undefined {
  const vms = config.vm ?? [];
  const index = vms.findIndex((vm) => vm.processes?.includes(group));
  const at = index >= 0 ? index : vms.findIndex((vm) => !vm.processes?.length);
  const vm = vms[at];
  if (!vm) return undefined;
  return {
    ...presetGuest(vm.size ?? 'shared-cpu-1x', `vm.${at}.size`),
    ...(vm.memory !== undefined ? { memory_mb: memoryMb(vm.memory, `vm.${at}.memory`) } : {}),
    ...(vm.cpu_kind ? { cpu_kind: vm.cpu_kind } : {}),
    ...(vm.cpus ? { cpus: vm.cpus } : {}),
    ...(vm.memory_mb ? { memory_mb: vm.memory_mb } : {}),
    ...(vm.kernel_args ? { kernel_args: vm.kernel_args } : {}),
  };
}

type Check = NonNullable<NonNullable<FlyToml['http_service']>['checks']>[number];

function serviceCheck(check: Check, type: 'tcp' | 'http') {
  const { headers, ...rest } = check;
  return { type, ...rest, ...(headers ? { headers: Object.entries(headers).map(([name, value]) => ({ name, values: [value] })) } : {}) };
}

function services(config: FlyToml, group: string): unknown[] {
  const out: unknown[] = [];
  const http = config.http_service;
  const common = (service: NonNullable<FlyToml['http_service']> | NonNullable<FlyToml['services']>[number]) => ({
    internal_port: service.internal_port,
    ...(service.concurrency ? { concurrency: service.concurrency } : {}),
    ...(service.auto_stop_machines !== undefined ? { autostop: service.auto_stop_machines } : {}),
    ...(service.auto_start_machines !== undefined ? { autostart: service.auto_start_machines } : {}),
    ...(service.min_machines_running !== undefined ? { min_machines_running: service.min_machines_running } : {}),
  });
  if (http && belongs(config, group, http.processes)) {
    const options = { ...(http.http_options ? { http_options: http.http_options } : {}) };
    out.push({
      protocol: 'tcp',
      ...common(http),
      ports: [
        { port: 80, handlers: ['http'], ...(http.force_https ? { force_https: true } : {}), ...options },
        { port: 443, handlers: ['http', 'tls'], ...options, ...(http.tls_options ? { tls_options: http.tls_options } : {}) },
      ],
      ...(http.checks?.length ? { checks: http.checks.map((check) => serviceCheck(check, 'http')) } : {}),
    });
  }
  for (const service of config.services ?? []) {
    if (!belongs(config, group, service.processes)) continue;
    const checks = [...(service.tcp_checks ?? []).map((check) => serviceCheck(check, 'tcp')), ...(service.http_checks ?? []).map((check) => serviceCheck(check, 'http'))];
    out.push({ protocol: service.protocol, ...common(service), ports: service.ports ?? [], ...(checks.length ? { checks } : {}) });
  }
  return out;
}

function checks(config: FlyToml, group: string): Record<string, unknown> | undefined {
  const entries = Object.entries(config.checks ?? {}).filter(([, check]) => belongs(config, group, check.processes)).map(([name, check]) => {
    const { processes: _, headers, method, port, ...rest } = check;
    const at = port ?? (config.http_service && belongs(config, group, config.http_service.processes) ? config.http_service.internal_port : undefined);
    if (at === undefined) throw invalid(`checks.${name}: Check '${name}' for process group '${group}' has no port set and the group has no http_service to take it from`);
    return [name, {
      ...rest, port: at, ...(method ? { method: method.toUpperCase() } : {}),
      ...(headers ? { headers: Object.entries(headers).map(([header, value]) => ({ name: header, values: [value] })) } : {}),
    }];
  });
  return entries.length ? Object.fromEntries(entries) : undefined;
}

/**
 * The machine config of `group`'s machines for `image` and `release`, in the API's
 * shape (the API checks it as it checks any). `mounts` name their volume by name:
 * the deploy fills in the volume each machine gets.
 */
export function machineConfigFor(config: FlyToml, group: string, image: string, release: Release, localFiles: LocalFiles = new Map()): Record<string, unknown> {
  const command = config.processes?.[group];
  const cmd = command ? commandWords(command, `processes.${group}`) : config.experimental?.cmd;
  const init = {
    ...(cmd?.length ? { cmd } : {}),
    ...(config.experimental?.entrypoint ? { entrypoint: config.experimental.entrypoint } : {}),
    ...(config.experimental?.exec ? { exec: config.experimental.exec } : {}),
    ...(config.swap_size_mb ? { swap_size_mb: config.swap_size_mb } : {}),
  };
  const guest = guestFor(config, group);
  const restart = (config.restart ?? []).filter((entry) => belongs(config, group, entry.processes)).at(-1);
  const mount = (config.mounts ?? []).find((entry) => belongs(config, group, entry.processes));
  const groupChecks = checks(config, group);
  const groupServices = services(config, group);
  const files = (config.files ?? []).filter((file) => belongs(config, group, file.processes)).map((file) => ({
    guest_path: file.guest_path,
    ...(file.local_path !== undefined ? { raw_value: localContent(localFiles, file.local_path) } : {}),
    ...(file.secret_name !== undefined ? { secret_name: file.secret_name } : {}),
    ...(file.raw_value !== undefined ? { raw_value: base64(file.raw_value) } : {}),
  }));
  return {
    image,
    env: { ...config.env, FLY_PROCESS_GROUP: group, ...(config.primary_region ? { PRIMARY_REGION: config.primary_region } : {}) },
    metadata: { fly_process_group: group, fly_platform_version: 'v2', fly_release_id: release.id, fly_release_version: String(release.version) },
    ...(Object.keys(init).length ? { init } : {}),
    ...(guest ? { guest } : {}),
    ...(groupServices.length ? { services: groupServices } : {}),
    ...(groupChecks ? { checks: groupChecks } : {}),
    ...(mount ? { mounts: [{ path: mount.destination, name: mount.source }] } : {}),
    ...(restart ? { restart: { policy: restart.policy === 'never' ? 'no' : restart.policy, ...(restart.retries !== undefined ? { max_retries: restart.retries } : {}) } } : {}),
    ...(files.length ? { files } : {}),
    ...(config.kill_signal || config.kill_timeout ? { stop_config: { ...(config.kill_signal ? { signal: config.kill_signal } : {}), ...(config.kill_timeout ? { timeout: config.kill_timeout } : {}) } } : {}),
  };
}

/** UTF-8 text as base64, with what every JavaScript runtime has. */
function base64(text: string): string {
  return btoa(Array.from(new TextEncoder().encode(text), (byte) => String.fromCharCode(byte)).join(''));
}

function localContent(files: LocalFiles, path: string): string {
  const content = files.get(path);
  if (content === undefined) throw invalid(`files: local_path ${path} was not read`);
  return content;
}
