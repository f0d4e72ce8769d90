/**
 * One app: its machines live (a stream of the app's changes), a chart of their
 * states over time, the machine picked (events, log tail, actions), its releases
 * and its secrets (names only).
 */
import { useEffect, useState } from 'preact/hooks';
import { appPath, follow, get, SignedOut } from './api.ts';
import { MachineDetail } from './machine-detail.tsx';
import { type Sample, seedSamples } from './chart-samples.ts';
import { StateChart } from './state-chart.tsx';
import type { ReleaseJson, SecretJson, WatchedMachine } from './types.ts';
import { useLoad } from './use-load.ts';

const SAMPLE_MS = 5_000;
const MAX_SAMPLES = 600;

function countStates(machines: Map<string, WatchedMachine>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const machine of machines.values()) if (machine.state !== 'destroyed') counts[machine.state] = (counts[machine.state] ?? 0) + 1;
  return counts;
}

export function AppView({ app, onSignedOut }: { app: string; onSignedOut: () => void }) {
  const [machines, setMachines] = useState(new Map<string, WatchedMachine>());
  const [live, setLive] = useState(false);
  const [picked, setPicked] = useState<string | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [now, setNow] = useState(Date.now());
  const [tab, setTab] = useState<'machines' | 'releases' | 'secrets'>('machines');

  useEffect(() => {
    const stop = new AbortController();
    let current = new Map<string, WatchedMachine>();
    const sample = () => {
      setNow(Date.now());
      setSamples((all) => [...all.slice(1 - MAX_SAMPLES), { at: Date.now(), counts: countStates(current) }]);
    };
    const onEvent = (event: string, data: unknown) => {
      if (event === 'snapshot') {
        const machines = (data as { machines: WatchedMachine[] }).machines;
        current = new Map(machines.map((m) => [m.id, m]));
        setSamples(seedSamples(machines, Date.now()));
      }
      else if (event === 'machine') {
        const machine = data as WatchedMachine;
        // A replica may hear a change twice, the second time late: an older one is not shown over a newer.
        const known = current.get(machine.id);
        if (known && known.updated_at > machine.updated_at) return;
        current = new Map(current);
        if (machine.state === 'destroyed') current.delete(machine.id);
        else current.set(machine.id, machine);
      }
      setMachines(current);
      sample();
    };
    follow(`/hangar${appPath(app, '/machines/watch')}`, onEvent, stop.signal, setLive).catch((error: Error) => {
      if (error instanceof SignedOut) onSignedOut();
    });
    const timer = setInterval(sample, SAMPLE_MS);
    return () => {
      stop.abort();
      clearInterval(timer);
    };
  }, [app]);

  const sorted = [...machines.values()].sort((a, b) => (a.process_group ?? '').localeCompare(b.process_group ?? '') || a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
  return (
    <section>
      <h2>{app} <span class={`live ${live ? 'on' : 'off'}`} title="changes arrive as they happen">{live ? 'live' : 'reconnecting…'}</span></h2>
      <StateChart samples={samples} now={now} />
      <div class="tabs">
        {(['machines', 'releases', 'secrets'] as const).map((name) => (
          <button type="button" key={name} class={tab === name ? 'here' : 'quiet'} onClick={() => setTab(name)}>{name}</button>
        ))}
      </div>
      {tab === 'machines' && (
        <div class="split">
          <table class="machines">
            <thead><tr><th>machine</th><th>state</th><th>group</th><th>region</th><th>host</th><th>release</th><th>image</th></tr></thead>
            <tbody>
              {sorted.map((m) => (
                <tr key={m.id} data-machine={m.id} class={picked === m.id ? 'picked' : ''} onClick={() => setPicked(m.id)}>
                  <td><button type="button" class="link">{m.id}</button></td>
                  <td class={`state ${m.state}`} data-state={m.state}>{m.state}{m.cordoned ? ' (cordoned)' : ''}</td>
                  <td>{m.process_group ?? '-'}</td><td>{m.region}</td><td>{m.host_id ?? '-'}</td><td>{m.release ? `v${m.release}` : '-'}</td><td class="image">{m.image}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {picked && machines.has(picked) && <MachineDetail app={app} machine={machines.get(picked) as WatchedMachine} onSignedOut={onSignedOut} />}
        </div>
      )}
      {tab === 'releases' && <Releases app={app} onSignedOut={onSignedOut} />}
      {tab === 'secrets' && <Secrets app={app} onSignedOut={onSignedOut} />}
    </section>
  );
}

function Releases({ app, onSignedOut }: { app: string; onSignedOut: () => void }) {
  const { data, error } = useLoad(() => get<{ releases: ReleaseJson[] }>(`/hangar${appPath(app, '/releases')}`), [app], onSignedOut);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="quiet">Loading…</p>;
  if (data.releases.length === 0) return <p class="quiet">No releases: the app was never deployed with <code>hangar deploy</code>.</p>;
  return (
    <table>
      <thead><tr><th>version</th><th>status</th><th>strategy</th><th>image</th><th>when</th><th>note</th></tr></thead>
      <tbody>
        {data.releases.map((r) => (
          <tr key={r.version}><td>v{r.version}</td><td class={`state ${r.status}`}>{r.status}</td><td>{r.strategy}</td><td class="image">{r.image}</td><td>{new Date(r.created_at).toLocaleString()}</td><td>{r.reason || r.description}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

function Secrets({ app, onSignedOut }: { app: string; onSignedOut: () => void }) {
  const { data, error } = useLoad(() => get<{ secrets: SecretJson[] }>(appPath(app, '/secrets')), [app], onSignedOut);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="quiet">Loading…</p>;
  if (data.secrets.length === 0) return <p class="quiet">No secrets: <code>hangar secrets set NAME=VALUE -a {app}</code></p>;
  return (
    <table>
      <thead><tr><th>name</th><th>digest</th><th>updated</th></tr></thead>
      <tbody>{data.secrets.map((s) => <tr key={s.name}><td>{s.name}</td><td class="image">{s.digest}</td><td>{new Date(s.updated_at).toLocaleString()}</td></tr>)}</tbody>
    </table>
  );
}
