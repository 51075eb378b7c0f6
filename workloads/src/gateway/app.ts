// The gateway's HTTP surface: POST /events validated at the edge, answered 202 only after JetStream
// stored every event, 4xx naming the wrong field for bad input (never a 500), 503 + Retry-After when
// JetStream cannot take it; plus /metrics, /healthz and /readyz. Express 5 serves all of it; the
// common POST /events is read and answered on node:http (createGatewayHandler), with the same answers.
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeEvents, parseEventsBody, type EncodedEvent, type FieldIssue } from '../shared/event.js';
import type { Logger } from '../shared/log.js';
import { parseJsonBody, refusedCharset } from './json-body.js';
import type { GatewayMetrics, RejectionReason } from './metrics.js';
import type { PublishOutcome } from './publisher.js';

export interface EventSink {
  readonly available: boolean;
  publishAll(events: readonly EncodedEvent[]): Promise<PublishOutcome[]>;
}

export interface GatewayAppOptions {
  sink: EventSink;
  metrics: GatewayMetrics;
  log: Logger;
  maxBodyBytes: number;
  maxBatch: number;
  /** Largest stored event in bytes (from the server's max_payload, see storedEventLimit()). */
  maxEventBytes: () => number;
  retryAfterSeconds: number;
  /** True once the topology is verified; readiness also needs a connection. */
  started: () => boolean;
  shuttingDown: () => boolean;
}

const knownRoutes = new Set(['/events', '/metrics', '/healthz', '/readyz']);
/** Issues listed in one 4xx answer; a hostile batch must not make the answer huge. */
const MAX_ISSUES = 20;

export function createGatewayApp(o: GatewayAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    const route = knownRoutes.has(req.path) ? req.path : 'other';
    const started = performance.now();
    // While shutting down, tell keep-alive clients to reconnect elsewhere.
    if (o.shuttingDown()) res.set('Connection', 'close');
    res.on('finish', () => {
      o.metrics.requestDuration.series({ route }).observe((performance.now() - started) / 1000);
      o.metrics.requests.inc({ method: req.method, route, code: String(res.statusCode) });
    });
    next();
  });

  const reject = (
    res: Response,
    status: number,
    reason: RejectionReason,
    error: string,
    extra: Record<string, unknown> = {},
  ): void => send(res, rejected(status, reason, error, extra));
  const send = (res: Response, answer: Answer): void => {
    if (answer.reason !== undefined) o.metrics.rejections.inc({ reason: answer.reason });
    if (answer.status === 503) res.set('Retry-After', String(o.retryAfterSeconds));
    res.status(answer.status).json(answer.body);
  };

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const ready = o.started() && o.sink.available && !o.shuttingDown();
    res
      .status(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : 'not ready\n');
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', o.metrics.registry.contentType).send(await o.metrics.registry.metrics());
  });

  app.post(
    '/events',
    (req, res, next) => {
      if (o.shuttingDown())
        return reject(res, 503, 'shutting_down', 'the gateway is shutting down; retry on another instance');
      if (!req.is('application/json')) {
        return reject(res, 415, 'unsupported_media_type', 'Content-Type must be application/json', {
          issues: [{ field: '(content-type)', message: `got ${req.get('content-type') ?? 'none'}` }],
        });
      }
      const charset = refusedCharset(req.get('content-type'));
      if (charset !== undefined) {
        return reject(res, 415, 'unsupported_media_type', charset, {
          issues: [{ field: '(content-type)', message: charset }],
        });
      }
      next();
    },
    // The body's bytes (inflated, within MAX_BODY_BYTES, as express.json read them), then parsed here:
    // express.json would put U+FFFD in place of bytes that are not UTF-8 and store a changed event.
    express.raw({ type: 'application/json', limit: o.maxBodyBytes }),
    async (req: Request, res: Response) => {
      send(res, await answerEvents(Buffer.isBuffer(req.body) ? req.body : undefined, o));
    },
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found; POST /events, GET /metrics, /healthz, /readyz' });
  });

  // Body-parser errors carry `type` and `status`; anything unexpected still answers JSON, and only a
  // genuine server fault is a 500.
  const onError: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
    const e = (typeof err === 'object' && err !== null ? err : {}) as {
      type?: unknown;
      status?: unknown;
      message?: unknown;
    };
    const message = typeof e.message === 'string' ? e.message : 'bad request';
    if (e.type === 'entity.too.large') {
      return reject(res, 413, 'body_too_large', `body exceeds MAX_BODY_BYTES=${o.maxBodyBytes}`, {
        issues: [{ field: '(body)', message } satisfies FieldIssue],
      });
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return reject(res, e.status, 'invalid_json', message, {
        issues: [{ field: '(body)', message } satisfies FieldIssue],
      });
    }
    o.log.error('unexpected error', { error: message });
    res.status(500).json({ error: 'internal error' });
  };
  app.use(onError);
  return app;
}

/** An answer to POST /events: its status and JSON body; `reason` when it is a rejection (counted). */
interface Answer {
  status: number;
  body: unknown;
  reason?: RejectionReason;
}

function rejected(
  status: number,
  reason: RejectionReason,
  error: string,
  extra: Record<string, unknown> = {},
): Answer {
  return { status, reason, body: { error, reason, ...extra } };
}

/**
 * What POST /events answers for a body of these bytes (undefined: express.raw read none), once the
 * content type was accepted: the same steps whichever HTTP path read the body (express or the plain
 * path of createGatewayHandler).
 */
async function answerEvents(bytes: Buffer | undefined, o: GatewayAppOptions): Promise<Answer> {
  const body = bytes !== undefined ? parseJsonBody(bytes) : { kind: 'ok' as const, value: undefined };
  if (body.kind === 'invalid_utf8' || body.kind === 'invalid_json') {
    return rejected(
      400,
      body.kind,
      body.kind === 'invalid_utf8' ? 'body is not valid UTF-8' : 'body is not valid JSON',
      { issues: [{ field: '(body)', message: body.message } satisfies FieldIssue] },
    );
  }
  const parsed = parseEventsBody(body.value, o.maxBatch);
  if (parsed.kind === 'invalid')
    return rejected(400, 'invalid_event', 'invalid event', {
      issues: parsed.issues.slice(0, MAX_ISSUES),
      ...(parsed.issues.length > MAX_ISSUES ? { moreIssues: parsed.issues.length - MAX_ISSUES } : {}),
    });
  if (parsed.kind === 'too_many') {
    return rejected(
      413,
      'batch_too_large',
      `batch of ${parsed.count} events exceeds MAX_BATCH=${parsed.max}`,
      {
        issues: [{ field: 'events', message: `at most ${parsed.max} events per request` }],
      },
    );
  }
  const encoded = encodeEvents(parsed.events, o.maxEventBytes(), parsed.form);
  if (encoded.kind === 'too_large') {
    return rejected(
      413,
      'event_too_large',
      `an event is larger than the ${o.maxEventBytes()} bytes NATS can store and the consumer can copy`,
      { issues: encoded.issues.slice(0, MAX_ISSUES) },
    );
  }
  const outcomes = await o.sink.publishAll(encoded.events);
  const failed = outcomes.filter((r) => !r.stored);
  const stored = outcomes.filter((r) => r.stored);
  if (failed.length > 0) {
    const first = failed[0];
    const reason: RejectionReason = first && !first.stored ? first.failure : 'unavailable';
    if (reason === 'event_too_large') {
      // The server's max_payload shrank below what we checked against (a reconfigured server):
      // still the client's event, not an outage, so never a 503 the client would retry forever.
      return rejected(413, reason, 'NATS refused an event as too large', {
        stored: stored.map((r) => r.id),
        failed: failed.map((r) => r.id),
        issues: [{ field: '(body)', message: first && !first.stored ? first.message : '' }],
      });
    }
    o.log.warn('publish failed', {
      reason,
      failed: failed.length,
      stored: stored.length,
      error: first && !first.stored ? first.message : '',
    });
    return rejected(503, reason, 'JetStream did not store every event; retry the same events (same ids)', {
      stored: stored.map((r) => r.id),
      failed: failed.map((r) => r.id),
    });
  }
  let duplicates = 0;
  const events = outcomes.map((r) => {
    const duplicate = r.stored && r.duplicate;
    if (duplicate) duplicates++;
    return { id: r.id, seq: r.stored ? r.seq : 0, duplicate };
  });
  o.metrics.events.inc({ result: 'accepted' }, events.length - duplicates);
  if (duplicates > 0) o.metrics.events.inc({ result: 'duplicate' }, duplicates);
  return { status: 202, body: { accepted: events.length - duplicates, duplicates, events } };
}

/** `application/json`, alone or with charset UTF-8: the content types the plain path takes. */
const PLAIN_JSON = /^application\/json(?:;[ \t]*charset=(?:utf-8|utf8|"utf-8"|"utf8"))?$/i;
/** A Content-Length of at least 1 (the parser has refused a malformed one already). */
const POSITIVE_LENGTH = /^[1-9][0-9]{0,15}$/;

/**
 * Whether a request is the common POST /events that the plain path answers: exactly that path, JSON
 * as UTF-8, no content encoding, a body of known length within MAX_BODY_BYTES, not shutting down.
 * Anything else (a query string, another charset or type, gzip, a chunked or empty or too large body)
 * goes to express, which answers it as before.
 */
function plainEventsRequest(req: IncomingMessage, o: GatewayAppOptions): boolean {
  if (req.method !== 'POST' || req.url !== '/events' || o.shuttingDown()) return false;
  const h = req.headers;
  if (h['content-encoding'] !== undefined || h['transfer-encoding'] !== undefined) return false;
  const type = h['content-type'];
  const length = h['content-length'];
  return (
    type !== undefined &&
    PLAIN_JSON.test(type) &&
    length !== undefined &&
    POSITIVE_LENGTH.test(length) &&
    Number(length) <= o.maxBodyBytes
  );
}

/**
 * The gateway's request handler: the common POST /events (plainEventsRequest) is read and answered on
 * node:http directly, everything else by the express app. The answers are the same (status, JSON body,
 * Content-Type, Retry-After, metrics; app.test.ts compares them); what the plain path leaves out is
 * express's per-request machinery (its router and middleware chain, body-parser, res.json), which cost
 * more CPU than the rest of a single-event request (workloads/README.md, "Gateway: what a request costs").
 */
export function createGatewayHandler(
  o: GatewayAppOptions,
  app: (req: IncomingMessage, res: ServerResponse) => void = createGatewayApp(o),
): (req: IncomingMessage, res: ServerResponse) => void {
  const duration = o.metrics.requestDuration.series({ route: '/events' });
  const answer = (res: ServerResponse, a: Answer): void => {
    if (a.reason !== undefined) o.metrics.rejections.inc({ reason: a.reason });
    // What express's res.status().json() sends: JSON.stringify, this Content-Type, a Content-Length.
    const text = JSON.stringify(a.body);
    res.statusCode = a.status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    if (a.status === 503) res.setHeader('Retry-After', String(o.retryAfterSeconds));
    res.end(text);
  };
  return (req, res) => {
    if (!plainEventsRequest(req, o)) return app(req, res);
    const started = performance.now();
    res.on('finish', () => {
      duration.observe((performance.now() - started) / 1000);
      o.metrics.requests.inc({ method: 'POST', route: '/events', code: String(res.statusCode) });
    });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    // A client gone mid-body: nothing to answer (express's body-parser drops it the same way).
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const bytes = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
      answerEvents(bytes, o).then(
        (a) => answer(res, a),
        (err: unknown) => {
          o.log.error('unexpected error', { error: err instanceof Error ? err.message : String(err) });
          answer(res, { status: 500, body: { error: 'internal error' } });
        },
      );
    });
  };
}
