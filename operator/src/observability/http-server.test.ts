// Specifies the operator's HTTP endpoints against hostile clients: unknown routes are answered at
// once even when the request announces a large body that never comes, and rejections quote only
// a little of what was sent. A real server on a loopback port; no other process needed.
import { connect } from 'node:net';
import { Registry, Counter } from 'prom-client';
import { MAX_QUOTED_PATH, startHttpServer } from './http-server.js';

/** Sends raw request bytes and resolves with everything the server sends until it closes or `untilMs`. */
function raw(
  port: number,
  request: string,
  untilMs: number,
): Promise<{ text: string; ms: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, ms: performance.now() - started, closed });
    };
    const timer = setTimeout(() => finish(false), untilMs);
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', reject);
    socket.write(request);
  });
}

describe('operator HTTP server', () => {
  let server: { port: number; close(): Promise<void> };
  let ready: string | undefined = 'informers have not synced yet';

  beforeAll(async () => {
    const registry = new Registry();
    new Counter({ name: 'jetscale_test_total', help: 'a test counter', registers: [registry] }).inc();
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      health: { notReadyReason: () => ready },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('jetscale_test_total 1');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain('informers have not synced yet');
    ready = undefined;
    expect((await fetch(`${base}/readyz?verbose=1`)).status).toBe(200);
    // Five requests on loopback; jest's default 5 s ran out once at load 30 (session 25).
  }, 20_000);

  it('answers an unknown route at once although its announced 1 GB body never comes', async () => {
    // Generous bound: the old server held this request until Node's 300 s request timeout.
    const res = await raw(
      server.port,
      'POST /api/v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"a":',
      10_000,
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 404/);
    expect(res.text).toMatch(/connection: close/i);
    expect(res.closed).toBe(true);
    expect(res.ms).toBeLessThan(10_000);
  }, 20_000);

  it('answers a known route with a body it never reads, and closes the connection', async () => {
    const res = await raw(
      server.port,
      'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n',
      10_000,
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 200/);
    expect(res.closed).toBe(true);
  }, 20_000);

  it('refuses other methods on known routes', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('quotes only a little of a huge path back', async () => {
    const junk = '/' + '%7B%22a%22%3A'.repeat(600);
    const res = await fetch(`http://127.0.0.1:${server.port}${junk}`);
    expect(res.status).toBe(404);
    const body = await res.text();
    expect(body.length).toBeLessThan(MAX_QUOTED_PATH + 120);
    expect(body).toContain('/metrics');
  });
});
