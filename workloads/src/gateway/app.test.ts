// The gateway's two HTTP paths answer alike: createGatewayHandler() takes the common POST /events on
// node:http and hands everything else to the express app; every answer (status, Content-Type,
// Retry-After, body) and the request metrics must be what the express app alone gives.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createGatewayApp, createGatewayHandler, type EventSink, type GatewayAppOptions } from './app.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';

/** An in-memory sink: a repeated id is a duplicate; aggregate `down` is not stored, `boom` throws. */
function memorySink(): EventSink {
  const ids = new Set<string>();
  let seq = 0;
  return {
    available: true,
    publishAll: (events) => {
      if (events.some((e) => e.event.aggregateId === 'boom')) return Promise.reject(new Error('sink broke'));
      return Promise.resolve(
        events.map((e) => {
          if (e.event.aggregateId === 'down')
            return {
              id: e.event.id,
              stored: false as const,
              failure: 'unavailable' as const,
              message: 'down',
            };
          const duplicate = ids.has(e.event.id);
          ids.add(e.event.id);
          return { id: e.event.id, stored: true as const, seq: duplicate ? 1 : ++seq, duplicate };
        }),
      );
    },
  };
}

function options(metrics: GatewayMetrics): GatewayAppOptions {
  const quiet = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  return {
    sink: memorySink(),
    metrics,
    log: quiet,
    maxBodyBytes: 2048,
    maxBatch: 5,
    maxEventBytes: () => 400,
    retryAfterSeconds: 7,
    started: () => true,
    shuttingDown: () => false,
  };
}

interface Sent {
  name: string;
  method?: string;
  path?: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent in two chunks without a Content-Length (chunked). */
  chunked?: boolean;
  /** Whether the plain path should answer it (false: express). */
  plain: boolean;
}

const event = (id: string, aggregateId = 'agg-1', extra: Record<string, unknown> = {}) => ({
  id,
  type: 'deposit',
  aggregateId,
  payload: { amount: 1 },
  timestamp: '2026-12-05T23:00:00.000Z',
  ...extra,
});
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const JSON_TYPE = { 'content-type': 'application/json' };

const requests: Sent[] = [
  { name: 'one event', headers: JSON_TYPE, body: json(event('a')), plain: true },
  { name: 'the same event again (duplicate)', headers: JSON_TYPE, body: json(event('a')), plain: true },
  {
    name: 'an event without id',
    headers: JSON_TYPE,
    body: json({ ...event('x'), id: undefined }),
    plain: true,
  },
  { name: 'a batch', headers: JSON_TYPE, body: json([event('b'), event('c'), event('a')]), plain: true },
  { name: '{events: [...]}', headers: JSON_TYPE, body: json({ events: [event('d')] }), plain: true },
  {
    name: 'charset=utf-8',
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: json(event('e')),
    plain: true,
  },
  {
    name: 'a UTF-8 BOM',
    headers: JSON_TYPE,
    body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(event('f'))]),
    plain: true,
  },
  { name: 'not JSON', headers: JSON_TYPE, body: Buffer.from('{"id":'), plain: true },
  { name: 'not UTF-8', headers: JSON_TYPE, body: Buffer.from([0x7b, 0xff, 0x7d]), plain: true },
  { name: 'an invalid event', headers: JSON_TYPE, body: json({ ...event('g'), type: 'a b' }), plain: true },
  {
    name: 'many invalid events',
    headers: JSON_TYPE,
    body: json({ events: Array.from({ length: 5 }, () => ({ nope: 1 })) }),
    plain: true,
  },
  {
    name: 'too many events',
    headers: JSON_TYPE,
    body: json(Array.from({ length: 6 }, (_, i) => event(`m${i}`))),
    plain: true,
  },
  {
    name: 'an event too large to store',
    headers: JSON_TYPE,
    body: json(event('h', 'agg-1', { payload: { note: 'n'.repeat(500) } })),
    plain: true,
  },
  {
    name: 'the sink does not store it (503)',
    headers: JSON_TYPE,
    body: json(event('i', 'down')),
    plain: true,
  },
  { name: 'the sink throws (500)', headers: JSON_TYPE, body: json(event('j', 'boom')), plain: true },
  { name: 'JSON that is not an object', headers: JSON_TYPE, body: Buffer.from('42'), plain: true },
  // express answers these, as before
  { name: 'a body over MAX_BODY_BYTES', headers: JSON_TYPE, body: Buffer.alloc(3000, 0x20), plain: false },
  { name: 'an empty body', headers: JSON_TYPE, body: Buffer.alloc(0), plain: false },
  {
    name: 'charset latin1',
    headers: { 'content-type': 'application/json; charset=latin1' },
    body: json(event('k')),
    plain: false,
  },
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: json(event('l')), plain: false },
  { name: 'no content type', headers: {}, body: json(event('l')), plain: false },
  {
    name: 'gzip',
    headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
    body: gzipSync(json(event('n'))),
    plain: false,
  },
  { name: 'chunked', headers: JSON_TYPE, body: json(event('o')), chunked: true, plain: false },
  { name: 'a query string', path: '/events?x=1', headers: JSON_TYPE, body: json(event('p')), plain: false },
  { name: 'a trailing slash', path: '/events/', headers: JSON_TYPE, body: json(event('q')), plain: false },
  { name: 'GET /events', method: 'GET', headers: {}, plain: false },
  { name: 'GET /healthz', method: 'GET', path: '/healthz', headers: {}, plain: false },
];

interface Got {
  status: number;
  contentType: string | undefined;
  retryAfter: string | undefined;
  body: string;
}

function send(port: number, r: Sent): Promise<Got> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body && !r.chunked) headers['content-length'] = r.body.length;
    const req = http.request(
      { host: '127.0.0.1', port, path: r.path ?? '/events', method: r.method ?? 'POST', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            retryAfter: res.headers['retry-after'],
            // A generated id differs between the two servers.
            body: Buffer.concat(chunks)
              .toString()
              .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<generated id>'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (r.body && r.chunked) {
      req.write(r.body.subarray(0, 10));
      req.end(r.body.subarray(10));
    } else req.end(r.body);
  });
}

async function serve(handler: http.RequestListener): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The request metrics without durations (which differ run to run). */
async function counted(metrics: GatewayMetrics): Promise<string> {
  const names = [
    'jetscale_gateway_http_requests_total',
    'jetscale_gateway_rejections_total',
    'jetscale_gateway_events_total',
  ];
  const text = await Promise.all(names.map((n) => metrics.registry.getSingleMetricAsString(n)));
  const count = await metrics.registry.getSingleMetricAsString(
    'jetscale_gateway_http_request_duration_seconds',
  );
  return [...text, ...count.split('\n').filter((l) => l.includes('_count'))].join('\n');
}

describe('createGatewayHandler', () => {
  it('answers every request as the express app alone does, and takes the plain path only for the common POST /events', async () => {
    const expressMetrics = createGatewayMetrics(false);
    const expressOnly = await serve(createGatewayApp(options(expressMetrics)));
    const handlerMetrics = createGatewayMetrics(false);
    const handlerOptions = options(handlerMetrics);
    const app = createGatewayApp(handlerOptions);
    const toExpress: string[] = [];
    let current = '';
    const counting = (req: IncomingMessage, res: ServerResponse): void => {
      toExpress.push(current);
      app(req, res);
    };
    const withHandler = await serve(createGatewayHandler(handlerOptions, counting));
    const statuses = new Set<number>();
    try {
      for (const r of requests) {
        const before = await send(expressOnly.port, r);
        statuses.add(before.status);
        current = r.name;
        const now = await send(withHandler.port, r);
        expect({ name: r.name, ...now }).toEqual({ name: r.name, ...before });
      }
      expect(toExpress).toEqual(requests.filter((r) => !r.plain).map((r) => r.name));
      expect(await counted(handlerMetrics)).toEqual(await counted(expressMetrics));
      // The table holds what it claims to: stored events and every kind of answer.
      expect([...statuses].sort()).toEqual([200, 202, 400, 404, 413, 415, 500, 503]);
      expect(await counted(expressMetrics)).toMatch(/result="duplicate"} 2/);
    } finally {
      await expressOnly.close();
      await withHandler.close();
    }
  });

  it('sends the shutting-down answer (Connection: close, 503) through express', async () => {
    let shuttingDown = false;
    const o = { ...options(createGatewayMetrics(false)), shuttingDown: () => shuttingDown };
    const server = await serve(createGatewayHandler(o));
    try {
      const r = requests[0];
      if (!r) throw new Error('no request');
      expect((await send(server.port, r)).status).toBe(202);
      shuttingDown = true;
      const got = await send(server.port, { ...r, body: json(event('z')) });
      expect(got.status).toBe(503);
      expect(JSON.parse(got.body)).toMatchObject({ reason: 'shutting_down' });
    } finally {
      await server.close();
    }
  });
});
