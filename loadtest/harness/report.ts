// Renders a run result as one self-contained HTML page — verdict table, and inline SVG charts of
// replicas vs backlog vs arrival rate over time with the peak shaded and every fault marked — plus
// the short terminal summary. No scripts, fonts or CDNs: the file opens anywhere, offline, and can
// be attached to a CI run as it is.
import type { FaultMarker, PrometheusSection, RunResult, TimelineSample, Verdict } from './types.js';

export interface Series {
  name: string;
  color: string;
  values: Array<number | null>;
  axis: 'left' | 'right';
  /** Replica counts are steps, rates and backlogs are lines. */
  step?: boolean;
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  times: readonly number[];
  series: Series[];
  leftLabel: string;
  rightLabel?: string;
  faults: readonly FaultMarker[];
  peak?: { fromSeconds: number; toSeconds: number };
  width?: number;
  height?: number;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 × 10^n at or above `max`. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(v: number): string {
  if (v >= 10_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function svgChart(spec: ChartSpec): string {
  const width = spec.width ?? 960;
  const height = spec.height ?? 300;
  const margin = { top: 44, right: spec.rightLabel ? 64 : 20, bottom: 56, left: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const tMax = Math.max(1, spec.times.at(-1) ?? 1);
  const maxOf = (axis: 'left' | 'right'): number => {
    const onAxis = spec.series.filter((s) => s.axis === axis);
    const max = Math.max(0, ...onAxis.flatMap((s) => s.values.filter((v): v is number => v !== null)));
    // Replica counts are whole numbers: a multiple of 4 keeps the four grid lines on integers, with
    // headroom so the top step does not hide in the frame.
    if (onAxis.length > 0 && onAxis.every((s) => s.step)) return Math.max(4, Math.ceil((max + 1) / 4) * 4);
    return niceCeiling(max);
  };
  const yMax = { left: maxOf('left'), right: maxOf('right') };
  const x = (t: number): number => margin.left + (t / tMax) * plotW;
  const y = (v: number, axis: 'left' | 'right'): number => margin.top + plotH - (v / yMax[axis]) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(
    `<text x="${margin.left}" y="20" font-size="14" font-weight="600" fill="#222">${escapeHtml(spec.title)}</text>`,
  );
  if (spec.peak) {
    const x0 = x(spec.peak.fromSeconds);
    const x1 = x(Math.min(spec.peak.toSeconds, tMax));
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${margin.top}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${plotH}" fill="#fdf1d8"/>`,
    );
    parts.push(
      `<text x="${(x0 + 4).toFixed(1)}" y="${margin.top + 12}" font-size="10" fill="#a0781e">peak load</text>`,
    );
  }
  // Grid and axes.
  for (let i = 0; i <= 4; i++) {
    const gy = margin.top + (plotH * i) / 4;
    parts.push(
      `<line x1="${margin.left}" y1="${gy}" x2="${margin.left + plotW}" y2="${gy}" stroke="#e6e6e6"/>`,
    );
    parts.push(
      `<text x="${margin.left - 6}" y="${gy + 4}" font-size="10" text-anchor="end" fill="#555">${formatTick((yMax.left * (4 - i)) / 4)}</text>`,
    );
    if (spec.rightLabel) {
      parts.push(
        `<text x="${margin.left + plotW + 6}" y="${gy + 4}" font-size="10" fill="#555">${formatTick((yMax.right * (4 - i)) / 4)}</text>`,
      );
    }
  }
  const tStep = niceCeiling(tMax / 8);
  for (let t = 0; t <= tMax; t += tStep) {
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${margin.top + plotH + 14}" font-size="10" text-anchor="middle" fill="#555">${t}s</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  parts.push(
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#333">${escapeHtml(spec.leftLabel)}</text>`,
  );
  if (spec.rightLabel) {
    parts.push(
      `<text transform="translate(${width - 12} ${margin.top + plotH / 2}) rotate(90)" font-size="11" text-anchor="middle" fill="#333">${escapeHtml(spec.rightLabel)}</text>`,
    );
  }
  // Fault markers.
  spec.faults.forEach((fault, index) => {
    const fx = x(fault.t).toFixed(1);
    // Alternate two label rows so faults close in time stay readable.
    const labelY = margin.top - 4 - (index % 2) * 11;
    parts.push(
      `<line x1="${fx}" y1="${margin.top}" x2="${fx}" y2="${margin.top + plotH}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
    );
    parts.push(
      `<text x="${fx}" y="${labelY}" font-size="9" text-anchor="middle" fill="#c0392b"><title>${escapeHtml(fault.detail)}</title>⚡ ${escapeHtml(fault.kind)}</text>`,
    );
  });
  // Series.
  for (const series of spec.series) {
    const segments: string[][] = [];
    let current: string[] = [];
    series.values.forEach((v, i) => {
      const t = spec.times[i];
      if (v === null || t === undefined) {
        if (current.length) segments.push(current);
        current = [];
        return;
      }
      const px = x(t).toFixed(1);
      const py = y(v, series.axis).toFixed(1);
      if (series.step && current.length) {
        const last = current.at(-1)?.split(',')[1] ?? py;
        current.push(`${px},${last}`);
      }
      current.push(`${px},${py}`);
    });
    if (current.length) segments.push(current);
    for (const points of segments) {
      parts.push(
        `<polyline fill="none" stroke="${series.color}" stroke-width="${series.step ? 2.2 : 1.6}"${series.dashed ? ' stroke-dasharray="5 3"' : ''} points="${points.join(' ')}"/>`,
      );
    }
  }
  // Legend.
  let lx = margin.left;
  const ly = height - 14;
  for (const series of spec.series) {
    parts.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${series.color}" stroke-width="2.5"${series.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
    );
    const label = `${series.name}${spec.rightLabel ? (series.axis === 'left' ? ' (left)' : ' (right)') : ''}`;
    parts.push(`<text x="${lx + 22}" y="${ly}" font-size="11" fill="#333">${escapeHtml(label)}</text>`);
    lx += 30 + label.length * 6.2;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const col = (
  timeline: readonly TimelineSample[],
  pick: (s: TimelineSample) => number | null,
): Array<number | null> => timeline.map(pick);

function verdictRows(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) => {
      const status =
        v.budget === undefined
          ? '<td class="m">measured</td>'
          : v.pass
            ? '<td class="ok">PASS</td>'
            : '<td class="bad">FAIL</td>';
      const value = v.value === null ? '—' : `${v.value} ${escapeHtml(v.unit)}`;
      return `<tr>${status}<td>${escapeHtml(v.name)}</td><td class="num">${value}</td><td>${escapeHtml(v.budget ?? '')}</td><td class="detail">${escapeHtml(v.detail)}</td></tr>`;
    })
    .join('\n');
}

export function renderHtml(result: RunResult): string {
  const times = result.timeline.map((s) => s.t);
  const peak = result.profile.peak;
  const common = { times, faults: result.faults, ...(peak ? { peak } : {}) };
  const overview = svgChart({
    ...common,
    title: 'Replicas vs backlog vs arrival rate',
    leftLabel: 'events/s · backlog',
    rightLabel: 'replicas',
    series: [
      {
        name: 'arrival rate (accepted/s)',
        color: '#2d7dd2',
        axis: 'left',
        values: col(result.timeline, (s) => s.achievedRate),
      },
      { name: 'backlog', color: '#e67e22', axis: 'left', values: col(result.timeline, (s) => s.backlog) },
      {
        name: 'replicas asked',
        color: '#27ae60',
        axis: 'right',
        step: true,
        values: col(result.timeline, (s) => s.specReplicas),
      },
      {
        name: 'ready',
        color: '#16a085',
        axis: 'right',
        step: true,
        dashed: true,
        values: col(result.timeline, (s) => s.readyReplicas),
      },
    ],
  });
  const rates = svgChart({
    ...common,
    title: 'Arrival (accepted, planned) and processing rate',
    leftLabel: 'events/s',
    series: [
      {
        name: 'accepted',
        color: '#2d7dd2',
        axis: 'left',
        values: col(result.timeline, (s) => s.achievedRate),
      },
      {
        name: 'processed (event log appends)',
        color: '#8e44ad',
        axis: 'left',
        values: col(result.timeline, (s) => s.processedRate),
      },
      {
        name: 'failed + dropped',
        color: '#c0392b',
        axis: 'left',
        values: col(result.timeline, (s) => s.failedRate + s.droppedRate),
      },
      // Drawn last so the plan stays visible over a jagged accepted rate.
      {
        name: 'planned',
        color: '#555',
        axis: 'left',
        dashed: true,
        values: col(result.timeline, (s) => s.plannedRate),
      },
    ],
  });
  const replicas = svgChart({
    ...common,
    title: 'Consumer replicas',
    leftLabel: 'replicas',
    series: [
      {
        name: 'desired (EventConsumer)',
        color: '#f1c40f',
        axis: 'left',
        step: true,
        values: col(result.timeline, (s) => s.desiredReplicas),
      },
      {
        name: 'asked (Deployment spec)',
        color: '#27ae60',
        axis: 'left',
        step: true,
        values: col(result.timeline, (s) => s.specReplicas),
      },
      {
        name: 'ready',
        color: '#16a085',
        axis: 'left',
        step: true,
        dashed: true,
        values: col(result.timeline, (s) => s.readyReplicas),
      },
      {
        name: 'processes running',
        color: '#34495e',
        axis: 'left',
        step: true,
        dashed: true,
        values: col(result.timeline, (s) => s.runningConsumers),
      },
    ],
    height: 240,
  });
  const latency = svgChart({
    ...common,
    title: 'End-to-end latency, p95 per second (event timestamp → applied)',
    leftLabel: 'ms',
    series: [
      {
        name: 'p95 e2e latency',
        color: '#d35400',
        axis: 'left',
        values: col(result.timeline, (s) => s.e2eLatencyP95Ms),
      },
    ],
    height: 220,
  });
  const prometheus = result.prometheus ? prometheusSection(result.prometheus, common) : '';
  const d = result.driver;
  const faultRows = result.faults
    .map(
      (f) =>
        `<tr><td class="num">${f.t.toFixed(1)} s</td><td>${escapeHtml(f.kind)}</td><td>${f.injected ? 'injected' : '<b>not injected</b>'}</td><td>${escapeHtml(f.detail)}</td></tr>`,
    )
    .join('\n');
  const settings = Object.entries(result.settings)
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(String(v))}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jetscale ${escapeHtml(result.scenario)} — ${result.passed ? 'PASS' : 'FAIL'}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:700}
.pass{background:#27ae60}.fail{background:#c0392b}
table{border-collapse:collapse;width:100%;margin:8px 0 20px;font-size:13px} td,th{border-bottom:1px solid #eee;padding:5px 8px;text-align:left;vertical-align:top}
td.ok{color:#27ae60;font-weight:700} td.bad{color:#c0392b;font-weight:700} td.m{color:#888} td.num{text-align:right;white-space:nowrap} td.detail{color:#555}
.charts svg{display:block;margin:10px 0;max-width:100%;height:auto}
</style></head><body>
<h1>jetscale · ${escapeHtml(result.scenario)} <span class="badge ${result.passed ? 'pass' : 'fail'}">${result.passed ? 'PASS' : 'FAIL'}</span></h1>
<div class="sub">${escapeHtml(result.profile.description)}<br>test id ${escapeHtml(result.testId)} · target ${escapeHtml(result.target)} · ${escapeHtml(result.startedAt)} → ${escapeHtml(result.finishedAt)}</div>
<h2>Verdicts</h2>
<table><tr><th></th><th>what</th><th>value</th><th>budget</th><th>detail</th></tr>
${verdictRows(result.verdicts)}
</table>
<div class="charts">
${overview}
${rates}
${replicas}
${latency}
</div>
${prometheus}
<h2>Load</h2>
<table>
<tr><td>planned arrivals</td><td class="num">${d.planned}</td><td>started</td><td class="num">${d.started}</td></tr>
<tr><td>accepted (2xx)</td><td class="num">${d.succeeded}</td><td>failed</td><td class="num">${d.failed}</td></tr>
<tr><td>dropped (no free slot)</td><td class="num">${d.dropped}</td><td>achieved rate</td><td class="num">${d.achievedRate.toFixed(1)}/s</td></tr>
<tr><td>latency p50 / p95 / p99 / max</td><td class="num" colspan="3">${d.p50LatencyMs.toFixed(1)} / ${d.p95LatencyMs.toFixed(1)} / ${d.p99LatencyMs.toFixed(1)} / ${d.maxLatencyMs.toFixed(1)} ms</td></tr>
<tr><td>driver scheduler lag (max)</td><td class="num" colspan="3">${d.maxSchedulerLagMs.toFixed(1)} ms</td></tr>
</table>
<h2>Faults</h2>
<table><tr><th>at</th><th>kind</th><th></th><th>detail</th></tr>${faultRows || '<tr><td colspan="4">none scheduled</td></tr>'}</table>
<h2>Settings</h2>
<table>${settings}</table>
</body></html>
`;
}

const fmt = (v: number | null, digits = 1): string => (v === null ? '—' : v.toFixed(digits));

/** The run as Prometheus answered the dashboard's queries: the same picture Grafana would draw. */
export function prometheusSection(
  p: PrometheusSection,
  common: Pick<ChartSpec, 'times' | 'faults' | 'peak'>,
): string {
  const backlog = svgChart({
    ...common,
    times: p.charts.times,
    title: 'Backlog and replicas as Prometheus recorded them (dashboard queries)',
    leftLabel: 'backlog · events/s',
    rightLabel: 'replicas',
    series: [
      {
        name: 'backlog (jetscale_backlog_messages)',
        color: '#e67e22',
        axis: 'left',
        values: p.charts.backlog,
      },
      {
        name: 'arrival rate (operator)',
        color: '#2d7dd2',
        axis: 'left',
        values: p.charts.arrival,
      },
      {
        name: 'applied/s (consumers)',
        color: '#8e44ad',
        axis: 'left',
        dashed: true,
        values: p.charts.applied,
      },
      { name: 'desired replicas', color: '#f1c40f', axis: 'right', step: true, values: p.charts.desired },
      {
        name: 'current replicas',
        color: '#27ae60',
        axis: 'right',
        step: true,
        dashed: true,
        values: p.charts.current,
      },
    ],
  });
  const panelRows = p.panels
    .map((panel) => {
      const status = panel.answered
        ? '<td class="ok">✓</td>'
        : panel.localSources
          ? '<td class="bad">✗</td>'
          : '<td class="m">–</td>';
      const queries = panel.queries
        .map(
          (q) =>
            `${escapeHtml(q.refId)}: ${q.series} series, ${q.samples} samples, max ${fmt(q.max, 2)}${q.externalSource ? ` <i>(${escapeHtml(q.externalSource)})</i>` : ''}${q.emptyAtEnd ? ' <i>(no data at the end of the run: answered over the run)</i>' : ''}${q.error ? ` <b>${escapeHtml(q.error)}</b>` : ''}`,
        )
        .join('<br>');
      return `<tr>${status}<td>${escapeHtml(panel.panel)}</td><td class="detail">${queries}</td></tr>`;
    })
    .join('\n');
  const agreementRows = p.agreement
    .map(
      (a) =>
        `<tr><td class="${a.pass ? 'ok' : 'bad'}">${a.pass ? 'PASS' : 'FAIL'}</td><td>${escapeHtml(a.name)}</td><td class="num">${fmt(a.harness, 0)}</td><td class="num">${fmt(a.prometheus, 0)}</td><td>${escapeHtml(a.tolerance)}</td><td class="detail">${escapeHtml(a.detail ?? '')}</td></tr>`,
    )
    .join('\n');
  const alertRows = p.alerts
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.alert)}</td><td>${a.firing.map(([from, to]) => `${from.toFixed(0)}–${to.toFixed(0)} s`).join(', ')}</td><td>${a.firingAtEnd ? 'still firing at the end' : 'resolved'}</td></tr>`,
    )
    .join('\n');
  const c = p.cost;
  const answered = p.panels.filter((x) => x.answered).length;
  return `<h2>Prometheus</h2>
<div class="sub">Every panel of the shipped Grafana dashboard, its query evaluated against the run's Prometheus (${escapeHtml(p.url)}, scraping every ${c.scrapeIntervalSeconds} s) over the run: ${answered} of ${p.panels.length} panels answered.</div>
<div class="charts">${backlog}</div>
<table><tr><th></th><th>figure</th><th>harness</th><th>Prometheus</th><th>tolerance</th><th>how</th></tr>${agreementRows}</table>
<table><tr><th></th><th>panel</th><th>queries</th></tr>${panelRows}</table>
<table><tr><th>alert (demo timings)</th><th>firing</th><th></th></tr>${alertRows || '<tr><td colspan="3">no alert fired for this namespace</td></tr>'}</table>
<table>
<tr><td>targets scraped at the end</td><td class="num">${c.targetsAtEnd}</td><td>mean scrape duration</td><td class="num">${fmt(c.meanLastScrapeMs)} ms</td></tr>
<tr><td>head series</td><td class="num">${fmt(c.headSeries, 0)}</td><td>samples appended</td><td class="num">${fmt(c.samplesPerSecond, 0)}/s</td></tr>
<tr><td>rule evaluation (one round, ${p.range.stepSeconds} s interval)</td><td class="num">${fmt(c.ruleEvaluationMsPerRound, 2)} ms</td><td>Prometheus CPU</td><td class="num">${fmt(c.cpuSecondsPerSecond === null ? null : c.cpuSecondsPerSecond * 100)} % of a core</td></tr>
<tr><td>Prometheus resident memory</td><td class="num">${fmt(c.residentMemoryMiB, 0)} MiB</td><td>every panel query over the run${c.panelQueries === undefined ? '' : ` (${c.panelQueries})`}</td><td class="num">${fmt(c.panelProofSeconds ?? null, 1)} s</td></tr>
</table>`;
}

/** The few lines printed at the end of a run. */
export function terminalSummary(result: RunResult, reportPath: string): string {
  const lines = [
    `jetscale ${result.scenario}: ${result.passed ? 'PASS' : 'FAIL'} (test id ${result.testId})`,
  ];
  for (const v of result.verdicts) {
    const status = v.budget === undefined ? '    ' : v.pass ? 'PASS' : 'FAIL';
    const value = v.value === null ? '—' : `${v.value} ${v.unit}`;
    lines.push(
      `  ${status}  ${v.name.padEnd(42)} ${value.padStart(16)}  ${v.budget ?? ''}${!v.pass ? `  (${v.detail})` : ''}`,
    );
  }
  lines.push(`  report: ${reportPath}`);
  return lines.join('\n');
}
