/** The machine picked: its actions (the destructive ones confirmed first), its events and the tail of its log. */
import { useState } from 'preact/hooks';
import { appPath, call, get, SignedOut, text } from './api.ts';
import type { EventJson, WatchedMachine } from './types.ts';
import { useLoad } from './use-load.ts';

interface Action { verb: string; label: string; confirm?: string; run: (app: string, id: string) => Promise<unknown> }

const ACTIONS: Action[] = [
  { verb: 'start', label: 'Start', run: (app, id) => call('POST', appPath(app, `/machines/${id}/start`)) },
  { verb: 'suspend', label: 'Suspend', run: (app, id) => call('POST', appPath(app, `/machines/${id}/suspend`)) },
  { verb: 'stop', label: 'Stop', confirm: 'Stop this machine? Its processes are ended.', run: (app, id) => call('POST', appPath(app, `/machines/${id}/stop`)) },
  { verb: 'restart', label: 'Restart', confirm: 'Restart this machine? Its processes are ended and started again.', run: (app, id) => call('POST', appPath(app, `/machines/${id}/restart`)) },
  { verb: 'destroy', label: 'Destroy', confirm: 'Destroy this machine? It is gone for good, with its root filesystem.', run: (app, id) => call('DELETE', appPath(app, `/machines/${id}?force=true`)) },
];

export function MachineDetail({ app, machine, onSignedOut }: { app: string; machine: WatchedMachine; onSignedOut: () => void }) {
  const [asking, setAsking] = useState<Action | null>(null);
  const [outcome, setOutcome] = useState('');
  // Read again whenever the machine changes: its events and log move with it.
  const events = useLoad(() => get<EventJson[]>(appPath(app, `/machines/${machine.id}/events`)), [machine.id, machine.updated_at], onSignedOut);
  const logs = useLoad(() => text(`/hangar${appPath(app, `/machines/${machine.id}/logs?tail=50`)}`), [machine.id, machine.updated_at], onSignedOut);
  const act = async (action: Action) => {
    setAsking(null);
    setOutcome(`${action.label}…`);
    try {
      await action.run(app, machine.id);
      setOutcome(`${action.label}: asked`);
    } catch (error) {
      if (error instanceof SignedOut) onSignedOut();
      else setOutcome(`${action.label}: ${(error as Error).message}`);
    }
  };
  return (
    <aside class="detail">
      <h3>{machine.id} <span class={`state ${machine.state}`}>{machine.state}</span></h3>
      <p class="quiet">{machine.name} · {machine.region}{machine.host_id ? ` · ${machine.host_id}` : ''} · {machine.image}</p>
      <div class="actions">
        {ACTIONS.map((action) => (
          <button type="button" key={action.verb} data-action={action.verb} class={action.confirm ? 'danger' : ''}
            onClick={() => (action.confirm ? setAsking(action) : void act(action))}>{action.label}</button>
        ))}
      </div>
      {asking && (
        <div class="confirm" role="dialog" aria-label="confirm">
          <p>{asking.confirm}</p>
          <button type="button" class="danger" data-confirm="yes" onClick={() => void act(asking)}>{asking.label}</button>
          <button type="button" class="quiet" onClick={() => setAsking(null)}>Cancel</button>
        </div>
      )}
      {outcome && <p class="outcome" role="status">{outcome}</p>}
      <h4>Events</h4>
      {events.error ? <p class="error">{events.error}</p> : (
        <table class="events">
          <tbody>
            {(events.data ?? []).slice(0, 15).map((e) => (
              <tr key={e.id}><td>{new Date(e.timestamp).toLocaleTimeString()}</td><td>{e.type}</td><td>{e.status}</td><td>{e.source}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Log</h4>
      <pre class="log">{logs.error ?? logs.data ?? ''}</pre>
    </aside>
  );
}
