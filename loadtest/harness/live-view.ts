// The live terminal view of a run: progress, arrival rate, backlog, replicas, the operator's leader
// and the faults so far. On a terminal it redraws a small block in place every second; piped into a
// log (CI) it prints one line every few seconds instead, so logs stay readable.
import type { FaultMarker, TimelineSample } from './types.js';

export interface LiveViewOptions {
  scenario: string;
  totalSeconds: number;
  stream?: NodeJS.WriteStream;
  /** Seconds between lines when not a terminal. */
  logEverySeconds?: number;
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

const n = (v: number | null, digits = 0): string => (v === null ? '—' : v.toFixed(digits));

export function statusLine(s: TimelineSample, totalSeconds: number, phase: string): string {
  return (
    `${phase.padEnd(6)} ${s.t.toFixed(0).padStart(4)}s/${totalSeconds}s ` +
    `arrival ${n(s.achievedRate).padStart(4)}/s (plan ${n(s.plannedRate).padStart(3)})` +
    `${s.droppedRate + s.failedRate > 0 ? ` ✗${s.droppedRate + s.failedRate}` : ''} ` +
    `backlog ${n(s.backlog).padStart(5)}  processed ${n(s.processedRate).padStart(4)}/s  ` +
    `replicas desired ${n(s.desiredReplicas)} asked ${n(s.specReplicas)} ready ${n(s.readyReplicas)}` +
    `${s.runningConsumers === null ? '' : ` running ${s.runningConsumers}`}  ` +
    `e2e p95 ${s.e2eLatencyP95Ms === null ? '—' : `${(s.e2eLatencyP95Ms / 1000).toFixed(1)}s`}  leader ${s.leader ?? '—'}`
  );
}

export class LiveView {
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private drawnLines = 0;
  private lastLogAt = -Infinity;
  private readonly faults: string[] = [];

  constructor(private readonly options: LiveViewOptions) {
    this.out = options.stream ?? process.stderr;
    this.tty = Boolean(this.out.isTTY) && process.env.CI === undefined;
  }

  fault(marker: FaultMarker): void {
    const text = `⚡ ${marker.t.toFixed(0)}s ${marker.kind}: ${marker.injected ? marker.detail : `NOT injected (${marker.detail})`}`;
    this.faults.push(text);
    if (!this.tty) this.out.write(`${text}\n`);
  }

  message(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
    this.drawnLines = 0;
  }

  sample(s: TimelineSample, phase: string): void {
    if (!this.tty) {
      const every = this.options.logEverySeconds ?? 5;
      if (s.t - this.lastLogAt >= every) {
        this.lastLogAt = s.t;
        this.out.write(`${statusLine(s, this.options.totalSeconds, phase)}\n`);
      }
      return;
    }
    const width = Math.max(60, Math.min(this.out.columns ?? 120, 160));
    const fraction = s.t / this.options.totalSeconds;
    const lines = [
      `jetscale ${this.options.scenario}  ${bar(fraction, 30)} ${s.t.toFixed(0)}s/${this.options.totalSeconds}s  (${phase})`,
      `  arrival   ${n(s.achievedRate).padStart(5)}/s  planned ${n(s.plannedRate).padStart(4)}/s  failed ${s.failedRate}  dropped ${s.droppedRate}`,
      `  backlog   ${n(s.backlog).padStart(5)}    ${bar((s.backlog ?? 0) / Math.max(1000, s.backlog ?? 0), 20)}  processed ${n(s.processedRate)}/s  e2e p95 ${s.e2eLatencyP95Ms === null ? '—' : `${(s.e2eLatencyP95Ms / 1000).toFixed(2)} s`}`,
      `  replicas  desired ${n(s.desiredReplicas)}  asked ${n(s.specReplicas)}  ready ${n(s.readyReplicas)}${s.runningConsumers === null ? '' : `  processes ${s.runningConsumers}`}   ${'▮'.repeat(Math.min(40, s.specReplicas ?? 0))}`,
      `  operator  leader ${s.leader ?? '—'}`,
      ...this.faults.slice(-4).map((f) => `  ${f}`),
    ].map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
    this.clear();
    this.out.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  private clear(): void {
    if (!this.tty || this.drawnLines === 0) return;
    this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
  }
}
