/** Applies the network plans on this host: idempotent namespace setup, per-command errors kept. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  isolationRuleset, namespaceSetup, type NamespacePlan, natRuleset, outboundNatSetup, outboundNatTeardown,
} from './plan.ts';

const run = promisify(execFile);

/** Runs plan commands in order; a failure stops them and names the command, unless `tolerant`. */
export async function runCommands(commands: string[][], options: { tolerant?: boolean } = {}): Promise<void> {
  for (const [bin, ...args] of commands) {
    try {
      await run(bin as string, args);
    } catch (error) {
      if (options.tolerant) continue;
      throw new Error(`"${[bin, ...args].join(' ')}" failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
    }
  }
}

/** The plan for the machines' namespace `netns`: a veth named after it, and fdaa::/16 routed into it. */
export function hostNamespacePlan(netns: string): NamespacePlan {
  return { ns: netns, hostVeth: `hgr-${netns}`.slice(0, 15), hostRoutes: ['fdaa::/16'] };
}

async function namespaceExists(ns: string): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').some((line) => line.split(' ')[0] === ns);
}

/** Creates the machines' namespace and its firewall unless it is there (it survives hangar restarts). */
export async function ensureNamespace(plan: NamespacePlan): Promise<void> {
  if (await namespaceExists(plan.ns)) return;
  await runCommands(namespaceSetup(plan));
  loadRuleset(['ip', 'netns', 'exec', plan.ns, 'nft', '-f', '-'], isolationRuleset(), 'firewall');
}

/** Turns outbound NAT on or off for the namespace; either way the result is the same whatever was there before. */
export async function applyOutboundNat(plan: NamespacePlan, enabled: boolean): Promise<void> {
  await runCommands(outboundNatTeardown(plan), { tolerant: true });
  if (!enabled) return;
  await runCommands(outboundNatSetup(plan));
  loadRuleset(['nft', '-f', '-'], natRuleset(plan), 'outbound NAT');
}

function loadRuleset([bin, ...args]: string[], ruleset: string, what: string): void {
  try {
    execFileSync(bin as string, args, { input: ruleset, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`${what} setup failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? error}`);
  }
}
