/**
 * The answers of a host's private DNS (`.internal`, the names Fly documents): a
 * pure function of the question, of who asks, and of the started machines the host
 * knows of from the change feed. Nothing here reads a database or the network.
 *
 * Who asks is known by the source address of the question (the server's part): a
 * machine is answered about the apps of its own organization only, and any name it
 * may not know of is REFUSED, as is every name outside `.internal` (there is no
 * recursion). Where Fly is silent, the choices are: a name of an app's known form
 * that names nothing (a stopped machine, an unknown sub-name) is NXDOMAIN; a name
 * that exists but holds no record of the type asked for answers none (NOERROR);
 * ANY is not implemented; and addresses come nearest first (this host, then this
 * region, then the rest), in the order of the machines' ids within each.
 */

/** Seconds, as Fly's resolver gives. */
export const TTL = 5;
/** The most a `top<N>.nearest.of` name asks for. */
export const MAX_NEAREST = 100;

export interface DnsMachine {
  id: string;
  app: string;
  region: string;
  hostId: string;
  /** Its 6PN address. */
  address: string;
  /** Its process group (`config.metadata.fly_process_group`), if any. */
  processGroup?: string;
}

export interface DnsDirectory {
  /** Every app, with its organization. */
  apps: ReadonlyMap<string, { org: string }>;
  /** The machines answered for: started, and not kept out (`dns.skip_registration`). */
  machines: readonly DnsMachine[];
}

/** The machine asking, as its source address tells. */
export interface Asker {
  org: string;
  hostId: string;
  region: string;
}

export interface Question {
  name: string;
  /** The record type's name (`AAAA`, `TXT`, …). */
  type: string;
}

export interface DnsRecord {
  name: string;
  type: 'AAAA' | 'TXT';
  ttl: number;
  data: string;
}

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'NOTIMP';

export interface DnsAnswer {
  rcode: Rcode;
  answers: DnsRecord[];
}

const refused: DnsAnswer = { rcode: 'REFUSED', answers: [] };
const nxdomain: DnsAnswer = { rcode: 'NXDOMAIN', answers: [] };

/** What a name holds: addresses, or one text. */
type Held = { aaaa: DnsMachine[] } | { txt: string };

export function answerQuestion(question: Question, asker: Asker, directory: DnsDirectory): DnsAnswer {
  if (question.type === 'ANY') return { rcode: 'NOTIMP', answers: [] };
  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (!name.endsWith('.internal')) return refused;
  const labels = name.slice(0, -'.internal'.length).split('.');
  const held = lookUp(labels, asker, directory);
  if (held === 'refused') return refused;
  if (held === undefined) return nxdomain;
  const answers: DnsRecord[] = 'txt' in held
    ? (question.type === 'TXT' ? [{ name, type: 'TXT', ttl: TTL, data: held.txt }] : [])
    : (question.type === 'AAAA' ? nearestFirst(held.aaaa, asker).map((m) => ({ name, type: 'AAAA', ttl: TTL, data: m.address })) : []);
  return { rcode: 'NOERROR', answers };
}

function lookUp(labels: string[], asker: Asker, directory: DnsDirectory): Held | 'refused' | undefined {
  const own = (app: string) => directory.apps.get(app)?.org === asker.org;
  const started = (app: string) => directory.machines.filter((m) => m.app === app);
  if (labels.length === 1 && labels[0] === '_apps') {
    return { txt: [...directory.apps].filter(([, app]) => app.org === asker.org).map(([name]) => name).sort().join(',') };
  }
  if (labels.length === 1 && labels[0] === '_instances') {
    const machines = directory.machines.filter((m) => own(m.app));
    return { txt: byId(machines).map((m) => `instance=${m.id},app=${m.app},ip=${m.address},region=${m.region}`).join(';') };
  }
  const app = labels.at(-1) as string;
  if (!own(app)) return 'refused';
  const machines = started(app);
  const [first, second, third] = labels;
  switch (labels.length) {
    case 1:
      return { aaaa: machines };
    case 2:
      if (first === 'global') return { aaaa: machines };
      if (first === 'vms') return { txt: byId(machines).map((m) => `${m.id} ${m.region}`).join(',') };
      if (first === 'regions') return { txt: [...new Set(machines.map((m) => m.region))].sort().join(',') };
      return machines.some((m) => m.region === first) ? { aaaa: machines.filter((m) => m.region === first) } : undefined;
    case 3: {
      const found = second === 'vm' ? machines.filter((m) => m.id === first)
        : second === 'process' ? machines.filter((m) => m.processGroup === first) : [];
      return found.length > 0 ? { aaaa: found } : undefined;
    }
    case 4: {
      const top = /^top([1-9]\d{0,2})$/.exec(first as string);
      if (!top || second !== 'nearest' || third !== 'of') return undefined;
      return { aaaa: nearestFirst(machines, asker).slice(0, Math.min(Number(top[1]), MAX_NEAREST)) };
    }
    default:
      return undefined;
  }
}

function byId(machines: readonly DnsMachine[]): DnsMachine[] {
  return [...machines].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** This host's machines, then this region's, then the rest; by id within each. */
function nearestFirst(machines: readonly DnsMachine[], asker: Asker): DnsMachine[] {
  const distance = (m: DnsMachine) => (m.hostId === asker.hostId ? 0 : m.region === asker.region ? 1 : 2);
  return byId(machines).sort((a, b) => distance(a) - distance(b));
}
