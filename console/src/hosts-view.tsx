/** The hosts machines are placed on, and their capacity: what their machines reserve of it. */
import { get } from './api.ts';
import type { HostJson } from './types.ts';
import { useLoad } from './use-load.ts';

const share = (used: number, total: number | null, unit: string) => (total === null ? `${used} ${unit} (no limit)` : `${used} / ${total} ${unit}`);

export function HostsView({ onSignedOut }: { onSignedOut: () => void }) {
  const { data, error } = useLoad(() => get<HostJson[]>('/hangar/v1/hosts'), [], onSignedOut);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="quiet">Loading…</p>;
  return (
    <section>
      <h2>Hosts</h2>
      <table>
        <thead><tr><th>host</th><th>region</th><th>status</th><th>machines</th><th>CPUs</th><th>memory</th></tr></thead>
        <tbody>
          {data.map((host) => (
            <tr key={host.id}>
              <td>{host.id}</td><td>{host.region}</td><td class={`state ${host.status}`}>{host.status}</td><td>{host.machines}</td>
              <td>{share(host.reserved.cpus, host.capacity.cpus, '')}</td><td>{share(host.reserved.memory_mb, host.capacity.memory_mb, 'MB')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
