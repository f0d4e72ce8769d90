/**
 * The keys that seal app secrets at rest: AES-256-GCM (Node's crypto), each value
 * sealed with a random 96-bit nonce and bound to its app and name (associated
 * data), so that a sealed value copied to another app or name does not open.
 *
 * A keyring holds one or more 32-byte keys, written as base64, one per line (a key
 * file) or comma-separated (`HANGAR_SECRETS_KEY`). The first key seals; every key
 * opens what it sealed, found by its id (a digest of the key, never the key). To
 * rotate: put a new key first and keep the old one after it, restart, let hangar
 * seal everything again with the new key (`hangar secrets rekey`), then drop the
 * old key. Without a key given, a single hangar makes one in its data directory.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

interface Key {
  id: string;
  bytes: Buffer;
}

export class SecretKeys {
  private readonly keys: Key[];

  private constructor(keys: Buffer[]) {
    this.keys = keys.map((bytes) => ({ id: keyId(bytes), bytes }));
  }

  /** Keys as base64 text, one per line or comma-separated, the sealing key first; refused unless each is 32 bytes. */
  static parse(text: string, from: string): SecretKeys {
    const words = text.split('\n').map((line) => line.replace(/#.*/, '')).join(',').split(/[\s,]+/).filter((word) => word !== '');
    if (words.length === 0) throw new Error(`${from} holds no secrets key`);
    const keys = words.map((word, index) => {
      const bytes = Buffer.from(word, 'base64');
      if (bytes.length !== KEY_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(word)) {
        throw new Error(`${from}: key ${index + 1} is not ${KEY_BYTES} bytes of base64 (make one with: openssl rand -base64 32)`);
      }
      return bytes;
    });
    return new SecretKeys(keys);
  }

  /** The keyring in `path`, made with one new key (readable by its owner only) if there is no such file. */
  static inFile(path: string, options: { create: boolean }): SecretKeys {
    if (!existsSync(path)) {
      if (!options.create) throw new Error(`no secrets key file at ${path}`);
      writeFileSync(path, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
    return SecretKeys.parse(readFileSync(path, 'utf8'), path);
  }

  /** The id of the key that seals. */
  get sealingKeyId(): string {
    return this.keys[0]!.id;
  }

  /** `value` sealed for secret `name` of app `appName`. */
  seal(appName: string, name: string, value: string): string {
    const key = this.keys[0]!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, nonce);
    cipher.setAAD(boundTo(appName, name));
    const sealed = Buffer.concat([nonce, cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}:${key.id}:${sealed.toString('base64')}`;
  }

  /** The value `sealed` holds; throws if no key of the ring sealed it, or it was sealed for another app or name, or altered. */
  open(appName: string, name: string, sealed: string): string {
    const [format, id, body] = sealed.split(':');
    if (format !== FORMAT || body === undefined) throw new Error(`secret ${name} of app ${appName} is not sealed as hangar seals secrets`);
    const key = this.keys.find((candidate) => candidate.id === id);
    if (!key) throw new Error(`secret ${name} of app ${appName} was sealed with a key (id ${id}) that is not in the keyring`);
    const bytes = Buffer.from(body, 'base64');
    if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new Error(`secret ${name} of app ${appName} is cut short`);
    const decipher = createDecipheriv('aes-256-gcm', key.bytes, bytes.subarray(0, NONCE_BYTES));
    decipher.setAAD(boundTo(appName, name));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`secret ${name} of app ${appName} does not open with its key: it was altered, or sealed for another app or name`);
    }
  }

  /** Whether `sealed` is sealed with the sealing key (else a rekey seals it again). */
  sealedWithCurrent(sealed: string): boolean {
    return sealed.split(':')[1] === this.sealingKeyId;
  }

  /**
   * A short digest of a value, shown in listings so that a change can be seen. It is
   * keyed (HMAC with a key derived from the sealing key): a digest alone cannot be
   * checked against guesses of a value by anyone without the key.
   */
  digest(appName: string, value: string): string {
    const digestKey = createHash('sha256').update('hangar secret digest\0').update(this.keys[0]!.bytes).digest();
    return createHmac('sha256', digestKey).update(appName).update('\0').update(value).digest('hex').slice(0, 16);
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update('hangar secrets key id\0').update(key).digest('hex').slice(0, 12);
}

function boundTo(appName: string, name: string): Buffer {
  return Buffer.from(`${appName}\0${name}`, 'utf8');
}
