// Rendering of the scaling benchmark: a plain-text table for the terminal and a self-contained HTML
// page (inline SVG, no scripts, no CDN) with arrivals, backlog and replicas over time for each
// trace × policy.

import type { RunResult, TimelinePoint } from './simulator.js';

export interface MetricSummary {
  p50WaitSeconds: number;
  p99WaitSeconds: number;
  /** p99 of the messages arriving after the trace's warm-up (the same as p99 without one). */
  p99AfterWarmupSeconds: number;
  maxWaitSeconds: number;
  peakBacklog: number;
  replicaSeconds: number;
  scaleEvents: number;
  /** Pods started (churn), and those started within 60 s of a scale-down (flapping). */
  podStarts: number;
  podStartsAfterScaleDown: number;
  secondsOverObjective: number;
  consumerReadsPerMinute: number;
  apiRequestsPerMinute: number;
}

export const metricLabels: Record<keyof MetricSummary, string> = {
  p50WaitSeconds: 'p50 wait (s)',
  p99WaitSeconds: 'p99 wait (s)',
  p99AfterWarmupSeconds: 'p99 after warm-up',
  maxWaitSeconds: 'max wait (s)',
  peakBacklog: 'peak backlog',
  replicaSeconds: 'replica-seconds',
  scaleEvents: 'scale events',
  podStarts: 'pod starts',
  podStartsAfterScaleDown: 'starts ≤60s after a scale-down',
  secondsOverObjective: 's over objective',
  consumerReadsPerMinute: 'NATS reads/min',
  apiRequestsPerMinute: 'API requests/min',
};

export interface TraceSummary {
  trace: string;
  description: string;
  /** Median over seeds, per policy. */
  medians: Record<string, MetricSummary>;
  /** One run per policy (the first seed), for the charts. */
  chartRuns: Record<string, RunResult>;
}

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
}

export function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1.00' : '∞';
  return (a / b).toFixed(2);
}

/** A ratio column: numerator policy / denominator policy, per metric. */
export type RatioColumn = [numerator: string, denominator: string];

/** The terminal table: one block per trace, one row per metric, policies and ratios as columns. */
export function renderTable(summaries: TraceSummary[], policies: string[], ratios: RatioColumn[]): string {
  if (policies.length === 0) return '';
  const header = ['trace', 'metric', ...policies, ...ratios.map(([a, b]) => `${a}/${b}`)];
  const rows: string[][] = [header];
  for (const s of summaries) {
    for (const key of Object.keys(metricLabels) as Array<keyof MetricSummary>) {
      const value = (p: string): number => s.medians[p]?.[key] ?? NaN;
      rows.push([
        s.trace,
        metricLabels[key],
        ...policies.map((p) => fmtValue(value(p))),
        ...ratios.map(([a, b]) => ratio(value(a), value(b))),
      ]);
    }
  }
  return alignRows(rows);
}

/** Left-aligns the first two columns, right-aligns the rest, and rules off the header. */
export function alignRows(rows: string[][]): string {
  const header = rows[0] ?? [];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, ri) => {
      const line = r
        .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ');
      return ri === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
    })
    .join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Keeps at most `max` points, taking the maximum within each bucket so peaks stay visible. */
function downsample(points: TimelinePoint[], max: number): TimelinePoint[] {
  if (points.length <= max) return points;
  const size = Math.ceil(points.length / max);
  const out: TimelinePoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    const first = bucket[0];
    if (first === undefined) continue;
    out.push({
      t: first.t,
      arrivalPerSecond: Math.max(...bucket.map((p) => p.arrivalPerSecond)),
      backlog: Math.max(...bucket.map((p) => p.backlog)),
      specReplicas: Math.max(...bucket.map((p) => p.specReplicas)),
      readyReplicas: Math.max(...bucket.map((p) => p.readyReplicas)),
    });
  }
  return out;
}

function panel(
  points: TimelinePoint[],
  series: Array<{ label: string; color: string; value: (p: TimelinePoint) => number }>,
  y0: number,
  height: number,
  width: number,
  yMax: number,
  title: string,
): string {
  const left = 48;
  const plotWidth = width - left - 8;
  const tMax = points[points.length - 1]?.t ?? 1;
  const x = (t: number): number => left + (t / tMax) * plotWidth;
  const y = (v: number): number => y0 + height - (Math.min(v, yMax) / yMax) * height;
  const parts: string[] = [
    `<rect x="${left}" y="${y0}" width="${plotWidth}" height="${height}" fill="#fafafa" stroke="#ddd"/>`,
    `<text x="${left + 4}" y="${y0 + 12}" font-size="11" fill="#333">${escapeHtml(title)}</text>`,
    `<text x="${left - 4}" y="${y0 + 10}" font-size="10" text-anchor="end" fill="#666">${fmtValue(yMax)}</text>`,
    `<text x="${left - 4}" y="${y0 + height}" font-size="10" text-anchor="end" fill="#666">0</text>`,
  ];
  series.forEach((s, i) => {
    const d = points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(s.value(p)).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.2"/>`);
    parts.push(
      `<text x="${width - 12 - i * 90}" y="${y0 + 12}" font-size="10" text-anchor="end" fill="${s.color}">${escapeHtml(s.label)}</text>`,
    );
  });
  return parts.join('');
}

/** Three stacked panels (arrivals, backlog, replicas) sharing the time axis. */
export function runChart(
  run: RunResult,
  scales: { arrivals: number; backlog: number; replicas: number },
): string {
  const width = 420;
  const h = 70;
  const points = downsample(run.timeline, 400);
  const tMax = points[points.length - 1]?.t ?? 0;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${3 * (h + 10) + 18}" viewBox="0 0 ${width} ${3 * (h + 10) + 18}">`,
    panel(
      points,
      [{ label: 'arrivals/s', color: '#555', value: (p) => p.arrivalPerSecond }],
      0,
      h,
      width,
      scales.arrivals,
      'arrivals (msg/s)',
    ),
    panel(
      points,
      [{ label: 'backlog', color: '#c0392b', value: (p) => p.backlog }],
      h + 10,
      h,
      width,
      scales.backlog,
      'backlog (pending + awaiting ack)',
    ),
    panel(
      points,
      [
        { label: 'spec', color: '#2471a3', value: (p) => p.specReplicas },
        { label: 'ready', color: '#27ae60', value: (p) => p.readyReplicas },
      ],
      2 * (h + 10),
      h,
      width,
      scales.replicas,
      'replicas',
    ),
    `<text x="48" y="${3 * (h + 10) + 12}" font-size="10" fill="#666">0 s</text>`,
    `<text x="${width - 8}" y="${3 * (h + 10) + 12}" font-size="10" text-anchor="end" fill="#666">${fmtValue(tMax)} s</text>`,
    '</svg>',
  ].join('');
}

export function renderHtml(input: {
  title: string;
  command: string;
  settings: Record<string, unknown>;
  summaries: TraceSummary[];
  policies: string[];
  verdicts: string[];
  table: string;
  /** Optional extra sections: a heading, a paragraph, preformatted text and trusted markup (SVG) each. */
  extras?: Array<{ heading: string; text: string; pre: string; html?: string }>;
}): string {
  const sections = input.summaries.map((s) => {
    const runs = input.policies.map((p) => s.chartRuns[p]).filter((r): r is RunResult => r !== undefined);
    // Same scales for every policy of a trace, so the charts compare by eye.
    const scales = {
      arrivals: Math.max(1, ...runs.flatMap((r) => r.timeline.map((p) => p.arrivalPerSecond))),
      backlog: Math.max(1, ...runs.flatMap((r) => r.timeline.map((p) => p.backlog))),
      replicas: Math.max(
        1,
        ...runs.flatMap((r) => r.timeline.map((p) => Math.max(p.specReplicas, p.readyReplicas))),
      ),
    };
    const charts = runs
      .map(
        (r) =>
          `<figure><figcaption><b>${escapeHtml(r.policy)}</b> — p99 ${fmtValue(r.p99WaitSeconds)} s, ${fmtValue(r.replicaSeconds)} replica-s (seed ${r.seed})</figcaption>${runChart(r, scales)}</figure>`,
      )
      .join('');
    return `<section><h2>${escapeHtml(s.trace)}</h2><p>${escapeHtml(s.description)}</p><div class="charts">${charts}</div></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
pre{background:#f4f4f4;padding:12px;overflow-x:auto;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #eee;padding:6px}
figcaption{font-size:12px;margin-bottom:4px}
li{margin:4px 0}
</style></head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>Produced by <code>${escapeHtml(input.command)}</code>. Simulated, not measured on a cluster: see the settings below.</p>
<h2>Targets</h2><ul>${input.verdicts.map((v) => `<li>${escapeHtml(v)}</li>`).join('')}</ul>
<h2>Medians over seeds</h2><pre>${escapeHtml(input.table)}</pre>
${(input.extras ?? []).map((e) => `<h2>${escapeHtml(e.heading)}</h2><p>${escapeHtml(e.text)}</p>${e.html ?? ''}<pre>${escapeHtml(e.pre)}</pre>`).join('\n')}
<h2>Settings</h2><pre>${escapeHtml(JSON.stringify(input.settings, null, 2))}</pre>
${sections.join('\n')}
</body></html>
`;
}

export interface FrontierSeries {
  family: string;
  color: string;
  points: Array<{ knob: number; p99WaitSeconds: number; replicaSeconds: number; dominated: boolean }>;
}

/**
 * One trace's frontiers: replica-seconds (x, linear from the physical minimum) against p99 wait (y,
 * log scale: p99 spans 0.5 s to minutes). Filled dots are on no other family's wrong side (not
 * dominated); hollow dots are dominated by some point of another family. Each family's points are
 * joined in knob order; a dashed vertical line marks the physical minimum.
 */
export function frontierChart(title: string, series: FrontierSeries[], physicalMinimum: number): string {
  const width = 520;
  const height = 300;
  const left = 56;
  const bottom = 34;
  const top = 20;
  const right = 150;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xMin = Math.min(physicalMinimum, ...all.map((p) => p.replicaSeconds)) * 0.97;
  const xMax = Math.max(...all.map((p) => p.replicaSeconds)) * 1.02;
  const yMin = Math.max(0.1, Math.min(...all.map((p) => p.p99WaitSeconds)) * 0.8);
  const yMax = Math.max(yMin * 10, Math.max(...all.map((p) => p.p99WaitSeconds)) * 1.2);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const x = (v: number): number => left + ((v - xMin) / (xMax - xMin)) * plotW;
  const y = (v: number): number =>
    top +
    plotH -
    ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ddd"/>`,
    `<text x="${left}" y="${top - 6}" font-size="12" fill="#222">${escapeHtml(title)}</text>`,
    `<text x="${left + plotW / 2}" y="${height - 4}" font-size="10" text-anchor="middle" fill="#555">replica-seconds</text>`,
    `<text x="12" y="${top + plotH / 2}" font-size="10" fill="#555" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">p99 wait (s, log)</text>`,
  ];
  for (let decade = Math.ceil(Math.log10(yMin)); decade <= Math.floor(Math.log10(yMax)); decade++) {
    const v = 10 ** decade;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${left - 4}" y="${(y(v) + 3).toFixed(1)}" font-size="10" text-anchor="end" fill="#666">${fmtValue(v)}</text>`,
    );
  }
  parts.push(
    `<text x="${left}" y="${top + plotH + 12}" font-size="10" fill="#666">${fmtValue(xMin)}</text>`,
    `<text x="${left + plotW}" y="${top + plotH + 12}" font-size="10" text-anchor="end" fill="#666">${fmtValue(xMax)}</text>`,
    `<line x1="${x(physicalMinimum).toFixed(1)}" x2="${x(physicalMinimum).toFixed(1)}" y1="${top}" y2="${top + plotH}" stroke="#888" stroke-dasharray="4 3"/>`,
    `<text x="${(x(physicalMinimum) + 3).toFixed(1)}" y="${top + plotH - 4}" font-size="9" fill="#888">physical minimum</text>`,
  );
  series.forEach((s, i) => {
    const d = s.points
      .map(
        (p, j) => `${j === 0 ? 'M' : 'L'}${x(p.replicaSeconds).toFixed(1)},${y(p.p99WaitSeconds).toFixed(1)}`,
      )
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1" opacity="0.6"/>`);
    for (const p of s.points) {
      parts.push(
        `<circle cx="${x(p.replicaSeconds).toFixed(1)}" cy="${y(p.p99WaitSeconds).toFixed(1)}" r="3.2" fill="${p.dominated ? 'white' : s.color}" stroke="${s.color}" stroke-width="1.3"><title>${escapeHtml(`${s.family}@${Number.isNaN(p.knob) ? 'default' : p.knob}: p99 ${fmtValue(p.p99WaitSeconds)} s, ${fmtValue(p.replicaSeconds)} replica-s${p.dominated ? ' (dominated)' : ''}`)}</title></circle>`,
      );
    }
    parts.push(
      `<circle cx="${left + plotW + 12}" cy="${top + 8 + i * 16}" r="3.2" fill="${s.color}"/>`,
      `<text x="${left + plotW + 20}" y="${top + 11 + i * 16}" font-size="10" fill="#222">${escapeHtml(s.family)}</text>`,
    );
  });
  parts.push(
    `<text x="${left + plotW + 12}" y="${top + 11 + series.length * 16 + 6}" font-size="9" fill="#666">hollow = dominated</text>`,
    '</svg>',
  );
  return parts.join('');
}

/**
 * Several frontier charts (from frontierChart) side by side in one standalone SVG file, with
 * optional caption lines under them (which run the charts are: commit, seeds, date).
 */
export function frontierSheet(charts: string[], columns = 2, caption: string[] = []): string {
  const width = 520;
  const height = 300;
  const rows = Math.ceil(charts.length / columns);
  const placed = charts.map((svg, i) =>
    svg.replace('<svg ', `<svg x="${(i % columns) * width}" y="${Math.floor(i / columns) * height}" `),
  );
  const captionText = caption
    .map(
      (line, i) =>
        `<text x="12" y="${rows * height + 16 + i * 16}" font-size="11" fill="#333">${escapeHtml(line)}</text>`,
    )
    .join('');
  const total = rows * height + (caption.length === 0 ? 0 : 8 + caption.length * 16);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${columns * width}" height="${total}" viewBox="0 0 ${columns * width} ${total}"><rect width="100%" height="100%" fill="white"/>${placed.join('')}${captionText}</svg>\n`;
}
