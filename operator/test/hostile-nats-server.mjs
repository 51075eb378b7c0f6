// A TCP server on 127.0.0.1 that plays a hostile or broken NATS server to the operator: one a
// tenant controls (spec.nats.servers is the tenant's to choose), or a proxy that mangles the
// protocol. It speaks just enough NATS to get a client connected (INFO, PONG to the handshake's
// PING, SUB and PUB read) and then misbehaves as its argument says (hostile-nats.ts, Hostility).
// It runs as its own process, so that the client's heap and event loop measured in a test are
// the client's alone. Prints {"port": n} when listening, then one JSON line per connection closed
// ({"sent": bytes written to it, "closedAt": ms}). It stands in for no real component: a real
// nats-server never does any of this.
import net from 'node:net';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { clearInterval, setInterval, setTimeout } from 'node:timers';

const h = JSON.parse(process.argv[2] ?? '{}');
const CRLF = '\r\n';
let connections = 0;

const floodUrls = (count) =>
  Array.from({ length: count }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4222`);

const server = net.createServer((socket) => {
  const conn = { sent: 0 };
  const id = ++connections;
  socket.on('error', () => undefined);
  socket.on('close', () => {
    process.stdout.write(`${JSON.stringify({ connection: id, sent: conn.sent, closedAt: Date.now() })}\n`);
  });
  const write = (data) => {
    if (socket.destroyed) return false;
    conn.sent += Buffer.byteLength(data);
    return socket.write(data);
  };
  const info = (extra = {}) =>
    `INFO ${JSON.stringify({
      server_id: 'NHOSTILE',
      server_name: 'hostile',
      version: '2.12.0',
      proto: 1,
      go: 'go1.24',
      host: '127.0.0.1',
      port: server.address().port,
      headers: true,
      max_payload: 1024 * 1024,
      jetstream: true,
      client_id: id,
      ...extra,
    })}${CRLF}`;
  // Writes head, then unit over and over as fast as the socket drains, up to cap bytes.
  const stream = (head, unit) => {
    const chunk = Buffer.from(unit.repeat(Math.max(1, Math.floor(65536 / unit.length))));
    if (head !== '') write(head);
    const pump = () => {
      while (!socket.destroyed && conn.sent < h.cap) {
        if (!write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
  const misbehave = () => {
    if (h.kind === 'infoFlood') write(info({ connect_urls: floodUrls(h.urls) }));
    if (h.kind === 'giantInfo') write(info({ padding: 'x'.repeat(h.bytes) }));
    if (h.kind === 'endlessInfo') stream('INFO {"padding":"', 'x');
    if (h.kind === 'stopsReading') socket.pause(); // what the client writes piles up on its side
    if (h.kind === 'errFlood') stream('', `-ERR 'Unknown Protocol Operation'${CRLF}`);
    if (h.kind === 'pingFlood') {
      socket.pause(); // reads nothing more: the client's PONGs pile up on its side
      stream('', `PING${CRLF}`);
    }
  };
  const first = h.when === 'first';
  if (first) misbehave();
  else if (h.kind === 'maxPayload') write(info({ max_payload: h.maxPayload }));
  else if (h.kind === 'slowloris') {
    const line = info();
    let at = 0;
    const timer = setInterval(() => {
      if (at >= line.length || socket.destroyed) return clearInterval(timer);
      write(line.slice(at, ++at));
    }, h.everyMs);
    socket.on('close', () => clearInterval(timer));
  } else write(info());
  if (first) return;

  // Enough of the client side of the protocol to get connected and be asked.
  let pending = Buffer.alloc(0);
  let payloadFor;
  const subs = [];
  let connected = false;
  const answer = (reply) => {
    const sub = subs.find(
      (s) => s.subject === reply || (s.subject.endsWith('.*') && reply.startsWith(s.subject.slice(0, -1))),
    );
    if (!sub) return;
    if (h.kind === 'inboxFlood') {
      const inbox = sub.subject.endsWith('.*') ? sub.subject.slice(0, -1) : `${sub.subject}.`;
      return stream('', `MSG ${inbox}nobody ${sub.sid} 2${CRLF}{}${CRLF}`);
    }
    const payload =
      h.kind === 'apiReply'
        ? h.reply === 'malformed'
          ? Buffer.from('{"type":"io.nats.jetstream.api.v1.consumer_info_response","num_pending": 12,')
          : Buffer.alloc(h.bytes, 'x')
        : Buffer.from(
            JSON.stringify({
              type: 'io.nats.jetstream.api.v1.consumer_info_response',
              error: { code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' },
            }),
          );
    write(
      Buffer.concat([
        Buffer.from(`MSG ${reply} ${sub.sid} ${payload.length}${CRLF}`),
        payload,
        Buffer.from(CRLF),
      ]),
    );
  };
  socket.on('data', (data) => {
    pending = Buffer.concat([pending, data]);
    for (;;) {
      if (payloadFor) {
        if (pending.length < payloadFor.size + 2) return;
        const { subject, reply } = payloadFor;
        pending = pending.subarray(payloadFor.size + 2);
        payloadFor = undefined;
        if (subject.startsWith('$JS.API.') && reply !== undefined) answer(reply);
        continue;
      }
      const end = pending.indexOf(CRLF);
      if (end === -1) return;
      const line = pending.subarray(0, end).toString();
      pending = pending.subarray(end + 2);
      const [op = '', ...args] = line.split(' ');
      switch (op.toUpperCase()) {
        case 'PING':
          write(`PONG${CRLF}`);
          if (!connected) {
            connected = true;
            if (h.afterMs > 0) setTimeout(misbehave, h.afterMs);
            else misbehave();
          }
          break;
        case 'SUB':
          subs.push({ subject: args[0] ?? '', sid: args[args.length - 1] ?? '' });
          break;
        case 'PUB':
          payloadFor = {
            subject: args[0],
            reply: args.length === 3 ? args[1] : undefined,
            size: Number(args.at(-1)),
          };
          break;
        case 'HPUB':
          payloadFor = {
            subject: args[0],
            reply: args.length === 4 ? args[1] : undefined,
            size: Number(args.at(-1)),
          };
          break;
      }
    }
  });
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
process.on('SIGTERM', () => process.exit(0));
