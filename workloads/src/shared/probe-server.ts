// A minimal HTTP server for processes that only expose /metrics, /healthz and /readyz (the
// consumer): plain node:http, because a framework would add nothing here.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { closeAnswering } from './http-close.js';

export interface ProbeServer {
  port: number;
  close(): Promise<void>;
}

export async function startProbeServer(options: {
  host: string;
  port: number;
  registry: Registry;
  ready: () => boolean;
  /** Why the process must be restarted (/healthz 503 with it), or undefined while it is alive. */
  unhealthy?: () => string | undefined;
}): Promise<ProbeServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      const problem = options.unhealthy?.();
      if (problem === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(`${problem}\n`);
    } else if (path === '/readyz') {
      const ready = options.ready();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      options.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(body))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    } else {
      res.writeHead(404).end();
    }
  });
  const close = closeAnswering(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close,
  };
}
