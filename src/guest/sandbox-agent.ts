/**
 * hangar-envd, the E2B sandbox agent (src/guest/envd/), in a machine: a machine
 * whose process is `/.hangar/envd` gets the agent copied into its root at boot
 * (hangar-init's `install`), from the per-machine initramfs. Nothing is asked of
 * the image.
 */
import type { InitConfig } from './init-config.ts';

/** Where the agent is in the guest, and what a machine's `init.exec` names to run it. */
export const SANDBOX_AGENT_PATH = '/.hangar/envd';

/** Where the initramfs carries it. */
const CARRIED_AT = 'hangar/envd';

/** The install a machine running the agent needs. */
export function sandboxAgentInstalls(argv: readonly string[]): NonNullable<InitConfig['installs']> {
  return argv[0] === SANDBOX_AGENT_PATH ? [{ source: `/${CARRIED_AT}`, path: SANDBOX_AGENT_PATH, mode: 0o755 }] : [];
}

/** The files the initramfs carries for a machine's installs (the agent, read by `read`). */
export function carriedFiles(config: Pick<InitConfig, 'installs'>, read: () => Buffer): Array<{ path: string; data: Buffer }> {
  return (config.installs?.length ?? 0) > 0 ? [{ path: CARRIED_AT, data: read() }] : [];
}
