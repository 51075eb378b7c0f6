// Specifies where KubeApiClient runs beforeSend (the write fence of fenced-api.ts): when the
// request can leave at once, not when it was made — a request can wait for a socket first, and a
// fence checked before that wait would let a write out after the leadership term ended.
import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FencedError } from './api-client.js';
import { KubeApiClient } from './api-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KubeApiClient write fence', () => {
  let server: http.Server;
  let api: KubeApiClient;
  const seen: string[] = [];
  const held: http.ServerResponse[] = [];

  beforeEach(async () => {
    seen.length = 0;
    held.length = 0;
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      if (req.url?.startsWith('/hold/')) held.push(res);
      else res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    api = new KubeApiClient(kc);
  });

  afterEach(async () => {
    for (const res of held) res.end('{}');
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  async function until(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 15_000; // generous: a loaded machine
    while (!check() && Date.now() < deadline) await sleep(10);
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  }

  it('checks the fence when a write that waited for a free socket can go out, and sends nothing if it closed meanwhile', async () => {
    // Every socket of the agent (32) is busy with a request the server holds.
    const busy = Array.from({ length: 32 }, (_, i) =>
      api.request('GET', `/hold/${i}`).catch(() => undefined),
    );
    await until('32 held requests', () => held.length === 32);
    let open = true;
    const fenced: string[] = [];
    const patch = api.request('PATCH', '/apis/apps/v1/namespaces/ns/deployments/d/scale', {
      body: { spec: { replicas: 9 } },
      beforeSend: () => {
        fenced.push(open ? 'open' : 'closed');
        if (!open) throw new FencedError('TermEnded', 'the term ended');
      },
    });
    const outcome = patch.then(
      () => 'sent',
      (err: unknown) => err,
    );
    await sleep(100); // the PATCH waits for a socket
    // The term ends while it waits (the process was frozen); then a socket frees.
    open = false;
    held[0]?.end('{}');
    expect(await outcome).toBeInstanceOf(FencedError);
    await sleep(200);
    expect(fenced).toEqual(['closed']);
    expect(seen.filter((s) => s.startsWith('PATCH'))).toEqual([]);
    for (const res of held) res.end('{}');
    await Promise.all(busy);
  }, 30_000);

  it('sends a write whose fence is open, on a new connection and on a reused one', async () => {
    let checks = 0;
    const write = () =>
      api.request('PATCH', '/apis/x', {
        body: { a: 1 },
        beforeSend: () => {
          checks++;
        },
      });
    await write();
    await write();
    expect(checks).toBe(2);
    expect(seen).toEqual(['PATCH /apis/x', 'PATCH /apis/x']);
  });

  it('closes the connection of a request whose afterSend throws (its bytes out), rejecting with that error', async () => {
    let serverSawClose = false;
    server.removeAllListeners('request');
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      // Held as an admission webhook holds a write: answered only if the client stays.
      res.on('close', () => (serverSawClose = !res.writableEnded));
      held.push(res);
    });
    const err = await api
      .request('PATCH', '/apis/x', {
        body: { a: 1 },
        afterSend: () => {
          throw new FencedError('SentLate', 'frozen between the check and the send');
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedError);
    await until('the server to see the client go', () => serverSawClose);
    expect(seen).toEqual(['PATCH /apis/x']);
  }, 30_000);

  it('sends the API server deadline (the timeout parameter) as computed when the write goes out, after a wait for a socket', async () => {
    const busy = Array.from({ length: 32 }, (_, i) =>
      api.request('GET', `/hold/${i}`).catch(() => undefined),
    );
    await until('32 held requests', () => held.length === 32);
    let left = 9000; // what the term leaves when the request is made
    const patch = api.request('PATCH', '/apis/x', {
      body: { a: 1 },
      query: { fieldManager: 'jetscale' },
      serverTimeoutAtSend: () => left,
    });
    await sleep(100); // waits for a socket, while the term runs on
    left = 2500.7;
    held[0]?.end('{}');
    await patch;
    expect(seen.filter((s) => s.startsWith('PATCH'))).toEqual([
      'PATCH /apis/x?fieldManager=jetscale&timeout=2500ms',
    ]);
    await api.request('PATCH', '/apis/y', { body: { a: 1 }, serverTimeoutAtSend: () => undefined });
    expect(seen.filter((s) => s.startsWith('PATCH /apis/y'))).toEqual(['PATCH /apis/y']);
    for (const res of held) res.end('{}');
    await Promise.all(busy);
  }, 30_000);
});
