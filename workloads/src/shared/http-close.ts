// Closing a workload's HTTP server at exit. Node's server.close() stops accepting and waits for every
// connection it does not count as idle, and a connection whose request headers have started but not
// ended (a slowloris client, or one that stalled) is not idle: close() waited for it until
// headersTimeout (66 s on the gateway), so the process ran out its grace period and exited 1 without
// draining NATS. What a closing server owes a client is the answer to a request it has received, so a
// connection is kept only while one of its requests (headers complete) is being answered; every other
// connection — idle keep-alive, or a request still arriving its headers — is closed.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How often connections without a request being answered are closed while the server closes. */
const CLOSE_EVERY_MS = 100;

/**
 * Tracks `server`'s connections from now on (call it before it accepts any) and returns its close:
 * it stops accepting, lets every request received be answered, closes every connection with no
 * request being answered, and resolves once all are closed.
 */
export function closeAnswering(server: Server): () => Promise<void> {
  const connections = new Set<Socket>();
  /** Connections with a request whose headers arrived and whose response is not done. */
  const answering = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      answering.delete(socket);
    });
  });
  server.on('request', (req, res) => {
    answering.add(req.socket);
    res.once('close', () => answering.delete(req.socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      const closeUnanswered = (): void => {
        for (const socket of connections) if (!answering.has(socket)) socket.destroy();
      };
      closeUnanswered();
      // A keep-alive connection becomes unanswered as its last response ends.
      const timer = setInterval(closeUnanswered, CLOSE_EVERY_MS);
      timer.unref();
      server.once('close', () => clearInterval(timer));
    });
}
