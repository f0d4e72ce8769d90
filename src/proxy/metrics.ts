/** The proxy's Prometheus metrics (prom-client), served at `/metrics`. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LoadTracker } from './load-tracker.ts';
import type { MachineTable } from './machine-table.ts';

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'hangar_proxy_requests_total', help: 'Requests the proxy answered, by app, machine and status', labelNames: ['app', 'machine', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'hangar_proxy_request_duration_seconds', help: 'Time from a request reaching the proxy to its answer ending, by app', labelNames: ['app'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry],
  });
  readonly connections = new Counter({ name: 'hangar_proxy_connections_total', help: 'Raw TCP connections the proxy carried to a machine, by app and machine, counted when they close', labelNames: ['app', 'machine'], registers: [this.registry] });
  readonly connectionSeconds = new Histogram({
    name: 'hangar_proxy_connection_duration_seconds', help: 'How long raw TCP connections lasted, by app', labelNames: ['app'],
    buckets: [0.01, 0.1, 1, 10, 60, 600, 3600], registers: [this.registry],
  });
  readonly wakes = new Counter({ name: 'hangar_proxy_wakes_total', help: 'Machines the proxy started for a request, by kind (resume from suspended, or cold) and outcome', labelNames: ['app', 'kind', 'outcome'], registers: [this.registry] });
  readonly wakeSeconds = new Histogram({
    name: 'hangar_proxy_wake_duration_seconds', help: 'From the start of a wake until the machine answers', labelNames: ['app', 'kind'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry],
  });
  readonly autostops = new Counter({ name: 'hangar_proxy_autostops_total', help: 'Idle machines the proxy stopped or suspended', labelNames: ['app', 'action'], registers: [this.registry] });

  constructor(loads: LoadTracker, table: MachineTable) {
    new Gauge({
      name: 'hangar_proxy_concurrency', help: 'Requests or connections each machine is handling now', labelNames: ['app', 'machine'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [id, load] of loads.entries()) this.set({ app: table.get(id)?.appName ?? '', machine: id }, load);
      },
    });
  }
}
