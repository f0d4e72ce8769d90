/**
 * The app's machines by state over the last half hour: one stacked bar per sample,
 * placed by its time. The first samples are worked out from the states each
 * machine's recent events entered (the snapshot carries them); later ones are
 * taken as changes arrive.
 */
import { type Sample, WINDOW_MS } from './chart-samples.ts';

const COLORS: Record<string, string> = {
  started: '#2f9e44', suspended: '#1c7ed6', stopped: '#868e96', starting: '#94d82d', stopping: '#fab005',
  suspending: '#74c0fc', failed: '#e03131', created: '#adb5bd', replacing: '#f08c00', updating: '#f08c00', destroying: '#c92a2a',
};
const WIDTH = 600;
const HEIGHT = 80;

export function StateChart({ samples, now }: { samples: Sample[]; now: number }) {
  const shown = samples.filter((sample) => sample.at >= now - WINDOW_MS);
  const most = Math.max(1, ...shown.map((s) => Object.values(s.counts).reduce((a, b) => a + b, 0)));
  const states = [...new Set(shown.flatMap((s) => Object.keys(s.counts)))].sort();
  const x = (at: number) => ((at - (now - WINDOW_MS)) / WINDOW_MS) * WIDTH;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="machines by state over the last 30 minutes">
        {shown.map((sample, i) => {
          const left = x(sample.at);
          const width = Math.max(1, x(shown[i + 1]?.at ?? now) - left);
          let y = HEIGHT;
          return states.map((state) => {
            const h = ((sample.counts[state] ?? 0) / most) * HEIGHT;
            y -= h;
            return h > 0 ? <rect key={`${sample.at}-${state}`} x={left} y={y} width={width} height={h} fill={COLORS[state] ?? '#495057'} /> : null;
          });
        })}
      </svg>
      <figcaption>
        <span class="quiet">last 30 minutes · </span>
        {states.map((state) => <span key={state} class="key"><i style={{ background: COLORS[state] ?? '#495057' }} />{state} {shown.at(-1)?.counts[state] ?? 0}</span>)}
      </figcaption>
    </figure>
  );
}
