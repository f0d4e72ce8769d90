/**
 * E2B's way of naming a sandbox's port (e2b-compat.md §1.2, as E2B's own proxy
 * reads it): the `E2b-Sandbox-Id` and `E2b-Sandbox-Port` headers when the `Host` is
 * `localhost`, an IP address or `sandbox.<domain>` (what `E2B_SANDBOX_URL` points
 * at), else a host `<port>-<sandboxID>.<domain>` (what `getHost(port)` gives).
 * Whether the id is a sandbox is the router's to say.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export interface SandboxTarget {
  sandboxId: string;
  port: number;
}

const ID = /^[a-z0-9]{1,64}$/;

function port(text: string | undefined): number | undefined {
  if (!text || !/^\d{1,5}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= 1 && value <= 65535 ? value : undefined;
}

const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

export function sandboxTargetOf(req: IncomingMessage, domain: string): SandboxTarget | undefined {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const base = domain.toLowerCase();
  if (host === 'localhost' || isIP(host) !== 0 || host === `sandbox.${base}`) {
    const sandboxId = header(req, 'e2b-sandbox-id');
    const sandboxPort = port(header(req, 'e2b-sandbox-port'));
    return sandboxId && ID.test(sandboxId) && sandboxPort ? { sandboxId, port: sandboxPort } : undefined;
  }
  if (!host.endsWith(`.${base}`)) return undefined;
  const label = host.slice(0, -(base.length + 1));
  const match = /^(\d{1,5})-([a-z0-9]{1,64})$/.exec(label);
  const sandboxPort = port(match?.[1]);
  return match && sandboxPort ? { sandboxId: match[2] as string, port: sandboxPort } : undefined;
}

/** E2B's answer for a sandbox that is not there, or not running (its SDK reads it as "not running"). */
export function sandboxMissingBody(sandboxId: string): string {
  return JSON.stringify({ sandboxId, message: 'The sandbox was not found', code: 502 });
}
