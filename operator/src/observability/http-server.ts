// The operator's HTTP endpoints: /metrics for Prometheus, /healthz (the process is alive and its
// event loop answers) and /readyz (informers have synced, so reconciles see the world).
//
// Plain node:http, because every answer here is decided by the request line alone: no request
// body is ever read. Anything else is answered at once (404/405) with a short text that quotes at
// most a little of the path, and a request that came with a body is answered with
// `Connection: close`, so an unknown route with a large Content-Length is not held open waiting
// for a body nobody will read (express's final handler waited for it, until Node's 300 s timeout).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthProbe {
  /** Undefined when ready, else why not (shown in the /readyz body). */
  notReadyReason(): string | undefined;
}

/** Most characters of a request path quoted back in a rejection. */
export const MAX_QUOTED_PATH = 64;

const ROUTES = ['/metrics', '/healthz', '/readyz'] as const;
type Route = (typeof ROUTES)[number];

function quotePath(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  const shown = path.length > MAX_QUOTED_PATH ? `${path.slice(0, MAX_QUOTED_PATH)}…` : path;
  return JSON.stringify(shown);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  const headers: Record<string, string | number> = {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    ...extra,
  };
  // The body was not read: closing is the only way to be done with the request at once.
  if (hasBody(req)) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

export async function startHttpServer(options: {
  host: string;
  port: number;
  registry: Registry;
  health: HealthProbe;
}): Promise<{ port: number; close(): Promise<void> }> {
  const text = 'text/plain; charset=utf-8';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (!(ROUTES as readonly string[]).includes(path)) {
      send(req, res, 404, text, `not found: ${quotePath(req.url)}; the routes are ${ROUTES.join(', ')}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, text, `method not allowed: use GET\n`, { Allow: 'GET, HEAD' });
      return;
    }
    switch (path as Route) {
      case '/metrics':
        send(req, res, 200, options.registry.contentType, await options.registry.metrics());
        return;
      case '/healthz':
        send(req, res, 200, text, 'ok\n');
        return;
      case '/readyz': {
        const reason = options.health.notReadyReason();
        if (reason === undefined) send(req, res, 200, text, 'ok\n');
        else send(req, res, 503, text, `not ready: ${reason}\n`);
        return;
      }
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(
          req,
          res,
          500,
          text,
          `error: ${String(err instanceof Error ? err.message : err).slice(0, 200)}\n`,
        );
      else res.destroy();
    });
  });
  // Slow or silent clients are cut off instead of holding sockets (headers within 10 s).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
