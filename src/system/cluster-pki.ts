/**
 * A cluster's own certificate authority, and the identities it issues. Every
 * replica and every host agent holds a certificate naming what it is as a URI:
 * `hangar://replica/<name>` or `hangar://host/<host id>`. A replica calls a host's
 * agent over TLS, presenting its own certificate (mutual TLS): the agent takes
 * calls from replicas only, and the replica checks it reached the host it meant,
 * whatever address answered. No shared secret travels, and a host's key lets it be
 * that host and no other. Certificates are made with the openssl command; the
 * authority's key stays with the operator, never on a host or a replica.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../commands/run.ts';

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** Names a certificate may carry: host ids' form (and replicas' names), nothing else reaches openssl. */
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export type ClusterRole = 'replica' | 'host';

/** A cluster identity as files: the authority's certificate, and this process's certificate and key. */
export const CA_FILE = 'ca.crt';
export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';

export interface ClusterIdentity {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  role: ClusterRole;
  name: string;
}

/** Makes the authority in `dir` (ca.crt, ca.key) unless it is there; answers whether it was made. */
export async function createAuthority(dir: string): Promise<boolean> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, CA_FILE)) && existsSync(join(dir, 'ca.key'))) return false;
  await openssl(['req', '-x509', ...EC_KEY, '-days', '3650', '-subj', '/CN=hangar cluster authority',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, CA_FILE)]);
  return true;
}

/** Issues `role`/`name`'s certificate and key into `outDir`, with the authority's certificate beside them. */
export async function issueIdentity(caDir: string, role: ClusterRole, name: string, outDir: string, days = 825): Promise<void> {
  if (!NAME.test(name)) throw new Error(`a ${role} name must be 1-63 lowercase letters, digits and dashes, got "${name}"`);
  if (!existsSync(join(caDir, 'ca.key'))) throw new Error(`no cluster authority in ${caDir}: make one with \`hangar cluster ca ${caDir}\``);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(tmpdir(), 'hangar-pki-'));
  try {
    const csr = join(work, 'req.csr');
    const ext = join(work, 'ext.cnf');
    writeFileSync(ext, [
      `subjectAltName = URI:hangar://${role}/${name}`,
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth, clientAuth',
      '',
    ].join('\n'));
    await openssl(['req', '-new', ...EC_KEY, '-subj', `/CN=${role}-${name}`, '-keyout', join(outDir, KEY_FILE), '-out', csr]);
    // A random serial, not a serial file: identities issued at once (a script issuing every host) do not race on it.
    await openssl(['x509', '-req', '-in', csr, '-CA', join(caDir, CA_FILE), '-CAkey', join(caDir, 'ca.key'), '-set_serial', `0x1${randomBytes(15).toString('hex')}`,
      '-days', String(days), '-extfile', ext, '-out', join(outDir, CERT_FILE)]);
    copyFileSync(join(caDir, CA_FILE), join(outDir, CA_FILE));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The identity in `dir` (see CA_FILE…), checked: signed by its authority, naming one role and name. */
export function loadIdentity(dir: string): ClusterIdentity {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file));
    } catch {
      throw new Error(`--cluster-dir ${dir} has no ${file}: issue this process's identity with \`hangar cluster issue\``);
    }
  };
  const ca = read(CA_FILE);
  const cert = read(CERT_FILE);
  const key = read(KEY_FILE);
  const x509 = new X509Certificate(cert);
  if (!x509.verify(new X509Certificate(ca).publicKey)) throw new Error(`${join(dir, CERT_FILE)} is not signed by ${join(dir, CA_FILE)}`);
  const identity = identityOf(x509.subjectAltName);
  if (!identity) throw new Error(`${join(dir, CERT_FILE)} names no hangar identity (URI:hangar://replica/… or hangar://host/…)`);
  return { ca, cert, key, ...identity };
}

/** The role and name a certificate's subjectAltName gives (Node's form: `URI:hangar://host/fra-1, …`). */
export function identityOf(subjectAltName: string | undefined): { role: ClusterRole; name: string } | undefined {
  const names = (subjectAltName ?? '').split(/,\s*/).flatMap((entry) => {
    const match = /^URI:hangar:\/\/(replica|host)\/([a-z0-9][a-z0-9-]{0,62})$/.exec(entry);
    return match ? [{ role: match[1] as ClusterRole, name: match[2] as string }] : [];
  });
  return names.length === 1 ? names[0] : undefined;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
  }
}
