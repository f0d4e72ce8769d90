/** The app's machines by state over time (since the page opened): one stacked bar per sample. */
export interface Sample { at: number; counts: Record<string, number> }

const COLORS: Record<string, string> = {
  started: '#2f9e44', suspended: '#1c7ed6', stopped: '#868e96', starting: '#94d82d', stopping: '#fab005',
  suspending: '#74c0fc', failed: '#e03131', created: '#adb5bd', replacing: '#f08c00', updating: '#f08c00', destroying: '#c92a2a',
};
const WIDTH = 600;
const HEIGHT = 80;

export function StateChart({ samples }: { samples: Sample[] }) {
  const most = Math.max(1, ...samples.map((s) => Object.values(s.counts).reduce((a, b) => a + b, 0)));
  const states = [...new Set(samples.flatMap((s) => Object.keys(s.counts)))].sort();
  const bar = WIDTH / Math.max(samples.length, 30);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="machines by state over time">
        {samples.map((sample, i) => {
          let y = HEIGHT;
          return states.map((state) => {
            const h = ((sample.counts[state] ?? 0) / most) * HEIGHT;
            y -= h;
            return h > 0 ? <rect key={`${i}-${state}`} x={i * bar} y={y} width={Math.max(bar - 1, 1)} height={h} fill={COLORS[state] ?? '#495057'} /> : null;
          });
        })}
      </svg>
      <figcaption>
        {states.map((state) => <span key={state} class="key"><i style={{ background: COLORS[state] ?? '#495057' }} />{state} {samples.at(-1)?.counts[state] ?? 0}</span>)}
      </figcaption>
    </figure>
  );
}
