/**
 * The certificates the edge proxy presents. Either the user's own (PEM files,
 * presented for every name), or hangar's local certificate authority: made once in
 * the data directory, it issues a certificate for each server name the proxy is
 * asked for (`myapp.localhost`), so that clients that trust `ca.crt` verify every
 * app. One wildcard certificate would not do: clients refuse `*.localhost`, a
 * wildcard directly under a top-level name. Certificates are made with the openssl
 * command and kept beside the authority.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { run } from '../commands/run.ts';

export interface TlsIdentity {
  /** What clients should trust: the user's certificate or hangar's authority. */
  trustFile: string;
  /** Issued by hangar's local authority (so not trusted by anyone by default). */
  local: boolean;
  /** PEM certificate and key for clients that name no server. */
  fallback: Pem;
  /** The certificate for a server name; `undefined` asks for the fallback (no or unknown name). */
  contextFor(serverName: string | undefined): Promise<SecureContext>;
}

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** A DNS name of plain labels: nothing else reaches the openssl command line. */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function userIdentity(files: { cert: string; key: string }): TlsIdentity {
  const pem = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
  const context = createSecureContext(pem);
  return { trustFile: files.cert, local: false, fallback: pem, contextFor: async () => context };
}

/** hangar's authority in `dir` (made if missing); `fallbackName` is served to clients that name no server. */
export async function localAuthority(dir: string, fallbackName: string): Promise<TlsIdentity> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  if (!existsSync(ca.cert) || !existsSync(ca.key)) {
    await openssl(['req', '-x509', ...EC_KEY, '-days', '3650', '-subj', '/CN=hangar local certificate authority',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', ca.key, '-out', ca.cert]);
  }
  const issued = new Map<string, Promise<SecureContext>>();
  const issue = (name: string): Promise<SecureContext> => {
    let context = issued.get(name);
    if (!context) {
      context = leaf(dir, ca, name).then(createSecureContext);
      issued.set(name, context);
      context.catch(() => issued.delete(name));
    }
    return context;
  };
  const fallback = fallbackName.toLowerCase();
  if (!DNS_NAME.test(fallback)) throw new Error(`"${fallbackName}" is not a DNS name`);
  await issue(fallback);
  return {
    trustFile: ca.cert,
    local: true,
    fallback: await leaf(dir, ca, fallback),
    contextFor: (serverName) => {
      const name = serverName?.toLowerCase();
      return issue(name && DNS_NAME.test(name) ? name : fallback);
    },
  };
}

/** The certificate for `name`, issued by the authority unless it is on disk already. */
async function leaf(dir: string, ca: { cert: string; key: string }, name: string): Promise<Pem> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(cert) || !existsSync(key)) {
    await openssl(['req', '-x509', ...EC_KEY, '-days', '825', '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=DNS:${name}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
      '-CA', ca.cert, '-CAkey', ca.key, '-keyout', key, '-out', cert]);
  }
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    throw new Error(`openssl failed (install openssl 3, or pass --tls-cert and --tls-key): ${(error as Error).message}`);
  }
}
