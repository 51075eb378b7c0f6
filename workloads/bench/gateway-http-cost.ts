// What the gateway's HTTP path costs per request, layer by layer: the same POST /events bodies sent in a
// closed loop to servers that differ by one layer each, each its own process, in interleaved rounds; the
// server's CPU per request from /proc. The sink answers at once (no NATS), so this is the HTTP path alone:
// nats-server's and the publisher's share is what `bench-workloads.ts` adds on top.
//
//   npx tsx workloads/bench/gateway-http-cost.ts [--batch N] [--lanes N] [--seconds S] [--rounds R]
//                                                [--variants a,b,...] [--run source|built]
//
// Variants (each a server process):
//   http-floor     node:http: read the body, answer a fixed 202 — what Node's HTTP server costs alone
//   express-floor  express 5 + express.raw(): read the body, answer a fixed 202 with res.status().json()
//   node-http      node:http with the gateway's own steps: parseJsonBody, parseEventsBody (zod), encodeEvents,
//                  the sink, the 202 answer's JSON, the request metrics
//   gateway-app    createGatewayApp() itself (express, its middleware, the same steps and metrics): the
//                  gateway until session 24
//   gateway-handler createGatewayHandler(): the common POST /events on node:http, the rest through express —
//                  what the gateway runs since session 24
// Not part of make bench-workloads. Nothing is asserted: the numbers are only as good as the machine is quiet.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EventSink } from '../src/gateway/app.js';
import { EventsLoad, eventsBody } from './load.js';

const VARIANTS = ['http-floor', 'express-floor', 'node-http', 'gateway-app', 'gateway-handler'] as const;
type Variant = (typeof VARIANTS)[number];

interface Options {
  batch: number;
  lanes: number;
  seconds: number;
  rounds: number;
  variants: Variant[];
  run: 'source' | 'built';
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { batch: 1, lanes: 32, seconds: 5, rounds: 3, variants: [...VARIANTS], run: 'source' };
  const positive = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} ${String(v)}: a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const v = argv[i + 1];
    switch (flag) {
      case '--batch':
        o.batch = positive(flag, v);
        break;
      case '--lanes':
        o.lanes = positive(flag, v);
        break;
      case '--seconds':
        o.seconds = positive(flag, v);
        break;
      case '--rounds':
        o.rounds = positive(flag, v);
        break;
      case '--variants': {
        const names = (v ?? '').split(',');
        const bad = names.filter((n) => !(VARIANTS as readonly string[]).includes(n));
        if (bad.length > 0 || names.length === 0)
          throw new Error(`--variants ${String(v)}: a comma-separated list of ${VARIANTS.join(', ')}`);
        o.variants = names as Variant[];
        break;
      }
      case '--run':
        if (v !== 'source' && v !== 'built') throw new Error(`--run ${String(v)}: source or built`);
        o.run = v;
        break;
      default:
        throw new Error(
          `unknown flag ${String(flag)}; flags: --batch --lanes --seconds --rounds --variants --run`,
        );
    }
  }
  return o;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

// ---- the server side (a child process: `--serve <variant>`) ----

async function serve(variant: Variant): Promise<void> {
  const { parseJsonBody } = await import('../src/gateway/json-body.js');
  const { encodeEvents, parseEventsBody, storedEventLimit } = await import('../src/shared/event.js');
  const { createGatewayMetrics } = await import('../src/gateway/metrics.js');
  const { createGatewayApp, createGatewayHandler } = await import('../src/gateway/app.js');
  const express = (await import('express')).default;
  type Sink = EventSink;

  let seq = 0;
  const sink: Sink = {
    available: true,
    publishAll: (events) =>
      Promise.resolve(
        events.map((e) => ({ id: e.event.id, stored: true as const, seq: ++seq, duplicate: false })),
      ),
  };
  const fixed = JSON.stringify({
    accepted: 1,
    duplicates: 0,
    events: [{ id: 'x', seq: 1, duplicate: false }],
  });
  const maxEventBytes = storedEventLimit(1_048_576);
  let handler: http.RequestListener;
  switch (variant) {
    case 'http-floor':
      handler = (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          Buffer.concat(chunks);
          res.writeHead(202, { 'content-type': 'application/json; charset=utf-8' }).end(fixed);
        });
      };
      break;
    case 'express-floor': {
      const app = express();
      app.disable('x-powered-by');
      app.set('etag', false);
      app.post('/events', express.raw({ type: 'application/json', limit: 1_048_576 }), (_req, res) => {
        res.status(202).json(JSON.parse(fixed));
      });
      handler = app;
      break;
    }
    case 'node-http': {
      const metrics = createGatewayMetrics();
      const duration = metrics.requestDuration.series({ route: '/events' });
      handler = (req, res) => {
        const started = performance.now();
        res.on('finish', () => {
          duration.observe((performance.now() - started) / 1000);
          metrics.requests.inc({ method: req.method ?? '', route: '/events', code: String(res.statusCode) });
        });
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void (async () => {
            const body = parseJsonBody(Buffer.concat(chunks));
            if (body.kind !== 'ok') return res.writeHead(400).end();
            const parsed = parseEventsBody(body.value, 500);
            if (parsed.kind !== 'ok') return res.writeHead(400).end();
            const encoded = encodeEvents(parsed.events, maxEventBytes, parsed.form);
            if (encoded.kind !== 'ok') return res.writeHead(413).end();
            const outcomes = await sink.publishAll(encoded.events);
            const events = outcomes.map((r) => ({ id: r.id, seq: r.stored ? r.seq : 0, duplicate: false }));
            metrics.events.inc({ result: 'accepted' }, events.length);
            const text = JSON.stringify({ accepted: events.length, duplicates: 0, events });
            res.writeHead(202, { 'content-type': 'application/json; charset=utf-8' }).end(text);
          })();
        });
      };
      break;
    }
    case 'gateway-app':
    case 'gateway-handler': {
      const quiet = {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      };
      handler = (variant === 'gateway-app' ? createGatewayApp : createGatewayHandler)({
        sink,
        metrics: createGatewayMetrics(),
        log: quiet,
        maxBodyBytes: 1_048_576,
        maxBatch: 500,
        maxEventBytes: () => maxEventBytes,
        retryAfterSeconds: 1,
        started: () => true,
        shuttingDown: () => false,
      });
      break;
    }
  }
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    process.stdout.write(`port ${address.port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

// ---- the load side ----

interface Result {
  variant: Variant;
  round: number;
  requestsPerSecond: number;
  serverUsPerRequest: number;
  loadGeneratorUsPerRequest: number;
  p50Ms: number;
  statuses: string;
  loadAverage: number;
}

function startServer(
  variant: Variant,
  run: 'source' | 'built',
): { proc: ChildProcess; port: Promise<number> } {
  const here = fileURLToPath(import.meta.url);
  const root = path.resolve(path.dirname(here), '../..');
  const [cmd, args] =
    run === 'built'
      ? [
          process.execPath,
          [here.endsWith('.js') ? here : path.join(root, 'dist/workloads/bench/gateway-http-cost.js')],
        ]
      : // node --import tsx, not the tsx CLI: the CLI runs the script in a child process of its own, whose
        // CPU /proc/<pid> of the CLI would not count.
        [process.execPath, ['--import', 'tsx', here]];
  const proc = spawn(cmd, [...args, '--serve', variant], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) =>
      reject(new Error(`${variant} server exited (${String(code)}) before it listened`)),
    );
    if (!proc.stdout) throw new Error('no stdout pipe');
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^port (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  return { proc, port };
}

async function closedLoop(
  port: number,
  o: Options,
  seconds: number,
): Promise<{ requests: number; latencies: number[]; statuses: Map<number, number> }> {
  const load = new EventsLoad(port, o.lanes);
  const timestamp = new Date().toISOString();
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  let requests = 0;
  const until = performance.now() + seconds * 1000;
  const lane = async (): Promise<void> => {
    while (performance.now() < until) {
      const body = eventsBody(o.batch, next, 1000, timestamp);
      next += o.batch;
      const started = performance.now();
      const status = await load.post(body);
      latencies.push(performance.now() - started);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      requests++;
    }
  };
  await Promise.all(Array.from({ length: o.lanes }, () => lane()));
  load.close();
  return { requests, latencies, statuses };
}

async function measure(variant: Variant, round: number, o: Options): Promise<Result> {
  const { proc, port: portPromise } = startServer(variant, o.run);
  try {
    const port = await portPromise;
    await closedLoop(port, o, 2); // warm-up: JIT, connections
    const pid = proc.pid ?? -1;
    const server0 = cpuSeconds(pid);
    const self0 = process.cpuUsage();
    const started = performance.now();
    const { requests, latencies, statuses } = await closedLoop(port, o, o.seconds);
    const elapsed = (performance.now() - started) / 1000;
    const self = process.cpuUsage(self0);
    const serverCpu = cpuSeconds(pid) - server0;
    latencies.sort((a, b) => a - b);
    return {
      variant,
      round,
      requestsPerSecond: Math.round(requests / elapsed),
      serverUsPerRequest: Math.round((serverCpu * 1e6) / requests),
      loadGeneratorUsPerRequest: Math.round((self.user + self.system) / requests),
      p50Ms: Math.round((latencies[Math.floor(latencies.length / 2)] ?? NaN) * 100) / 100,
      statuses: [...statuses].map(([s, n]) => `${s}×${n}`).join(' '),
      loadAverage: Math.round((os.loadavg()[0] ?? NaN) * 10) / 10,
    };
  } finally {
    proc.kill('SIGTERM');
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  console.log(
    `gateway HTTP path, batch ${o.batch}, ${o.lanes} lanes, ${o.seconds} s per variant, ${o.rounds} rounds, ` +
      `run ${o.run}; load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const results: Result[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 === 0 ? o.variants : [...o.variants].reverse();
    for (const variant of order) {
      const result = await measure(variant, r, o);
      results.push(result);
      console.log(
        `round ${r + 1} ${variant}: ${result.requestsPerSecond} requests/s, server ${result.serverUsPerRequest} µs/request, ` +
          `load generator ${result.loadGeneratorUsPerRequest}, p50 ${result.p50Ms} ms, ${result.statuses}, load ${result.loadAverage}`,
      );
    }
  }
  console.log('\nmedian (min–max) over the rounds, server CPU µs per request | requests/s');
  for (const variant of o.variants) {
    const mine = results.filter((x) => x.variant === variant);
    const us = mine.map((x) => x.serverUsPerRequest);
    const rps = mine.map((x) => x.requestsPerSecond);
    console.log(
      `${variant.padEnd(14)} ${median(us)} (${Math.min(...us)}–${Math.max(...us)}) µs | ${median(rps)} (${Math.min(...rps)}–${Math.max(...rps)})/s`,
    );
  }
  console.log(
    `load at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  const variant = process.argv[serveAt + 1];
  if (!(VARIANTS as readonly string[]).includes(variant ?? ''))
    throw new Error(`--serve ${String(variant)}: a variant`);
  void serve(variant as Variant);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
