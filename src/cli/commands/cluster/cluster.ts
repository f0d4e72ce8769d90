/**
 * `hangar cluster ca|issue|host-role`: an operator's tools to give a cluster's
 * processes their identities. The authority's key stays with the operator; each
 * replica and host gets a certificate of its own, and each host a PostgreSQL role
 * of its own that can write what that host reports and nothing else. They load
 * what they need when they run: other commands do not pay for it.
 */
import type { CommandSpec } from '../../command.ts';

export const clusterCa: CommandSpec = {
  path: ['cluster', 'ca'],
  description: 'make the cluster\'s certificate authority in <dir> (ca.crt, ca.key; keep ca.key with the operator)',
  args: ['<dir>'],
  async handler({ io }, [dir]) {
    const { createAuthority } = await import('../../../system/cluster-pki.ts');
    const made = await createAuthority(dir as string);
    io.out(made ? `cluster authority made in ${dir}` : `${dir} already holds a cluster authority: kept`);
    return 0;
  },
};

export const clusterIssue: CommandSpec = {
  path: ['cluster', 'issue'],
  description: 'issue the identity of a replica or a host (its certificate and key, and ca.crt) into --out, for its --cluster-dir',
  args: ['<replica|host>', '<name>'],
  options: [
    { flags: '--ca <dir>', description: 'the cluster authority\'s directory (hangar cluster ca)' },
    { flags: '--out <dir>', description: 'where to write ca.crt, cert.pem and key.pem' },
  ],
  async handler({ io }, [role, name], options) {
    if (role !== 'replica' && role !== 'host') {
      io.err(`the first argument must be replica or host, got "${role}"`);
      return 2;
    }
    if (typeof options.ca !== 'string' || typeof options.out !== 'string') {
      io.err('--ca and --out are required');
      return 2;
    }
    const { issueIdentity } = await import('../../../system/cluster-pki.ts');
    await issueIdentity(options.ca, role, name as string, options.out);
    io.out(`${role} ${name}: identity in ${options.out} (use it as --cluster-dir ${options.out})`);
    return 0;
  },
};

export const clusterHostRole: CommandSpec = {
  path: ['cluster', 'host-role'],
  description: 'make (or renew) host <host-id>\'s own PostgreSQL role, allowed to act as that host only; prints its --store URL',
  args: ['<host-id>'],
  options: [
    { flags: '--store <url>', description: 'the cluster\'s database, as its owner (the role the replicas use)' },
  ],
  async handler({ io }, [hostId], options) {
    if (typeof options.store !== 'string') {
      io.err('--store (the database, as its owner) is required');
      return 2;
    }
    const { createHostRole } = await import('../../../store/postgres/host-roles.ts');
    const url = await createHostRole(options.store, hostId as string);
    io.out(url);
    return 0;
  },
};
