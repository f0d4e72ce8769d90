/** Every app, with its status and machine count. */
import { get } from './api.ts';
import type { AppJson } from './types.ts';
import { useLoad } from './use-load.ts';

export function AppsList({ onSignedOut }: { onSignedOut: () => void }) {
  const { data, error } = useLoad(() => get<{ apps: AppJson[] }>('/v1/apps'), [], onSignedOut);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="quiet">Loading…</p>;
  return (
    <section>
      <h2>Apps</h2>
      {data.apps.length === 0 ? <p class="quiet">No apps yet: <code>hangar deploy</code> one.</p> : (
        <table>
          <thead><tr><th>name</th><th>organization</th><th>status</th><th>machines</th></tr></thead>
          <tbody>
            {data.apps.map((app) => (
              <tr key={app.name}>
                <td><a href={`#/apps/${encodeURIComponent(app.name)}`}>{app.name}</a></td>
                <td>{app.organization.slug}</td><td>{app.status}</td><td>{app.machine_count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
