/** Applies the network plans on this host: idempotent namespace setup, per-command errors kept. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { isolationRuleset, namespaceSetup, type NamespacePlan } from './plan.ts';

const run = promisify(execFile);

async function namespaceExists(ns: string): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').some((line) => line.split(' ')[0] === ns);
}

/** Creates the machines' namespace and its firewall unless it is there (it survives hangar restarts). */
export async function ensureNamespace(plan: NamespacePlan): Promise<void> {
  if (await namespaceExists(plan.ns)) return;
  for (const [bin, ...args] of namespaceSetup(plan)) {
    try {
      await run(bin as string, args);
    } catch (error) {
      throw new Error(`network setup failed at "${[bin, ...args].join(' ')}": ${(error as { stderr?: string }).stderr?.trim() ?? error}`);
    }
  }
  try {
    execFileSync('ip', ['netns', 'exec', plan.ns, 'nft', '-f', '-'], { input: isolationRuleset(), stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`firewall setup failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? error}`);
  }
}
