/**
 * A sandbox is a hangar machine in its org's app (`e2b-<org>`), so the Machines
 * API, the CLI and events see it too. This is the translation both ways: the
 * machine config a sandbox of a template runs (the agent as its process, a health
 * check on the agent, the lifetime and E2B's metadata in `config.metadata`), and
 * the sandbox a machine is.
 */
import { randomBytes } from 'node:crypto';
import type { MachineRecord } from '../domain/machine.ts';
import { SANDBOX_AGENT_PATH } from '../guest/sandbox-agent.ts';
import type { TemplateRecord } from './records.ts';

/** The envd version hangar-envd serves (src/guest/envd/main.go). */
export const ENVD_VERSION = '0.5.7';
export const ENVD_PORT = 49983;
export const CLIENT_ID = 'hangar';

export const META = {
  template: 'e2b.template',
  endAt: 'e2b.end_at',
  onTimeout: 'e2b.on_timeout',
  autoResume: 'e2b.auto_resume',
  metadata: 'e2b.metadata',
  startedAt: 'e2b.started_at',
  /** A forked sandbox's own agent token (its config's is the machine it was forked from). */
  token: 'e2b.token',
  /** A template's base: the running machine its sandboxes are forked from (not itself a sandbox). */
  base: 'e2b.base',
  /**
   * The `createdAt` of the template a base or spare was made for: a template
   * deleted and made again under its id is not served by one of the old one's. (A
   * snapshot's base has none: a snapshot's id is never made again.)
   */
  templateVersion: 'e2b.template_version',
  /** A started fork of a template's base, ready for a create to take (spares.ts). */
  spare: 'e2b.spare',
  /** A fork of a template's base being made a spare (spares.ts). */
  warming: 'e2b.warming',
  /** A spare a create has taken and is making its sandbox (spares.ts). */
  claimed: 'e2b.claimed',
  /**
   * A fork under way, of a base, a sandbox or a snapshot's source: no base, sandbox
   * or spare until its maker makes it one (forkingMark).
   */
  forking: 'e2b.forking',
} as const;

const APP_PREFIX = 'e2b-';
export const sandboxApp = (org: string) => `${APP_PREFIX}${org}`.slice(0, 63);
export const isSandboxApp = (appName: string) => appName.startsWith(APP_PREFIX);

export interface SandboxOptions {
  timeoutS: number;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  onTimeout: 'kill' | 'pause';
  autoResume: boolean;
}

/** The metadata that makes a machine a sandbox, with its lifetime and E2B's metadata. */
export function sandboxMetadata(templateID: string, options: SandboxOptions, now: number): Record<string, string> {
  return {
    [META.template]: templateID,
    [META.endAt]: String(now + options.timeoutS * 1000),
    [META.startedAt]: String(now),
    [META.onTimeout]: options.onTimeout,
    [META.autoResume]: String(options.autoResume),
    [META.metadata]: JSON.stringify(options.metadata),
  };
}

/** The config of a sandbox of `template`; `token` guards its agent. */
export function sandboxConfig(template: TemplateRecord, options: SandboxOptions, token: string, now: number): Record<string, unknown> {
  const env: Record<string, string> = { HANGAR_ENVD_TOKEN: token, HANGAR_ENVD_ENVS: JSON.stringify(options.envVars) };
  if (template.user) env.HANGAR_ENVD_USER = template.user;
  if (template.workdir) env.HANGAR_ENVD_WORKDIR = template.workdir;
  if (template.startCmd) env.HANGAR_ENVD_START = template.startCmd;
  return {
    image: template.image,
    guest: { cpu_kind: 'shared', cpus: template.cpuCount, memory_mb: template.memoryMB },
    init: { exec: [SANDBOX_AGENT_PATH] },
    env,
    // The agent answering is what "created" means: the create waits for this check.
    checks: { envd: { type: 'http', port: ENVD_PORT, path: '/health', interval: '1s', timeout: '2s', grace_period: '60s' } },
    restart: { policy: 'no' },
    metadata: sandboxMetadata(template.templateID, options, now),
  };
}

/** A machine being destroyed or destroyed: no base, spare or sandbox any more. */
export const isGone = (machine: MachineRecord) => ['destroyed', 'destroying'].includes(machine.state);

/** The mark of a base or spare made for this template (`META.templateVersion`). */
export const versionMark = (template: TemplateRecord) => ({ [META.templateVersion]: String(template.createdAt) });

/** The metadata of an E2B fork's children until they are made what they are for (not their parent's: no second base, no sandbox yet). */
export const forkingMark = (templateID: string) => ({ [META.forking]: templateID });

/** A key for work on this template in an app, not shared with one deleted before it under its id. */
export const templateKey = (appName: string, template: TemplateRecord) => `${appName}/${template.templateID}@${template.createdAt}`;

/** The config of a template's base: a sandbox's, marked as the base and not as a sandbox. */
export function baseConfig(template: TemplateRecord, token: string, now: number): Record<string, unknown> {
  const config = sandboxConfig(template, { timeoutS: 1, metadata: {}, envVars: {}, onTimeout: 'kill', autoResume: false }, token, now);
  return { ...config, metadata: { [META.base]: template.templateID, ...versionMark(template) } };
}

/**
 * Whether a machine is a base of template `templateID`, not going; given the
 * template's `createdAt`, of that template only (not of one deleted before it).
 */
export function isBaseOf(machine: MachineRecord, templateID: string, createdAt?: number): boolean {
  if (machine.config.metadata?.[META.base] !== templateID || isGone(machine)) return false;
  return createdAt === undefined || isOfVersion(machine, createdAt);
}

/** Whether a base or spare was made for the template created at `createdAt` (one without the mark is taken as so). */
export function isOfVersion(machine: MachineRecord, createdAt: number): boolean {
  const version = machine.config.metadata?.[META.templateVersion];
  return version === undefined || version === String(createdAt);
}

/** Whether a base or spare was made for a template created after `createdAt` (its id made again since). */
export function isOfLaterVersion(machine: MachineRecord, createdAt: number): boolean {
  const version = Number(machine.config.metadata?.[META.templateVersion]);
  return Number.isFinite(version) && version > createdAt;
}

export const newAccessToken = () => randomBytes(24).toString('hex');

/** What the E2B API says of a sandbox, read from its machine. */
export interface SandboxView {
  templateID: string;
  sandboxID: string;
  state: 'running' | 'paused';
  startedAt: number;
  endAt: number;
  onTimeout: 'kill' | 'pause';
  autoResume: boolean;
  metadata: Record<string, string>;
  token: string;
  cpuCount: number;
  memoryMB: number;
}

function parseMetadata(text: string | undefined): Record<string, string> {
  try {
    const value = JSON.parse(text ?? '{}') as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    }
  } catch { /* a machine's metadata may hold anything: none then */ }
  return {};
}

/** The sandbox a machine is, or null for a machine that is not one (or is gone). */
export function sandboxOf(machine: MachineRecord): SandboxView | null {
  const meta = machine.config.metadata ?? {};
  const templateID = meta[META.template];
  if (!templateID || isGone(machine)) return null;
  return {
    templateID,
    sandboxID: machine.id,
    state: machine.state === 'started' || machine.state === 'starting' || machine.state === 'created' ? 'running' : 'paused',
    startedAt: Number(meta[META.startedAt] ?? machine.createdAt) || machine.createdAt,
    endAt: Number(meta[META.endAt] ?? 0) || 0,
    onTimeout: meta[META.onTimeout] === 'pause' ? 'pause' : 'kill',
    autoResume: meta[META.autoResume] === 'true',
    metadata: parseMetadata(meta[META.metadata]),
    token: meta[META.token] ?? String(machine.config.env?.HANGAR_ENVD_TOKEN ?? ''),
    cpuCount: machine.config.guest?.cpus ?? 1,
    memoryMB: machine.config.guest?.memory_mb ?? 256,
  };
}

/** Whether a machine's metadata makes it a sandbox, and whether traffic may resume it. */
export function sandboxRouting(metadata: Record<string, string> | undefined): { sandbox: boolean; autoResume: boolean } {
  return { sandbox: Boolean(metadata?.[META.template]), autoResume: metadata?.[META.autoResume] === 'true' };
}
