// Connecting a workload to NATS: credentials from the configuration, retry until the first
// connection succeeds and reconnect forever afterwards, because a workload that gives up on NATS
// only turns a NATS restart into a pod restart.
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import type { NatsConfig } from './config.js';
import { useBufferEncodingInNats } from './nats-text-encoding.js';

/** `persistent: false` (one-shot tools) fails fast when NATS is not there instead of waiting. */
export async function connectNats(
  config: NatsConfig,
  name: string,
  persistent = true,
): Promise<NatsConnection> {
  // nats.js's protocol lines (a publish's, an ack's) encoded into Node's buffer pool, not a new
  // ArrayBuffer each (nats-text-encoding.ts).
  useBufferEncodingInNats();
  return connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    token: config.NATS_TOKEN,
    authenticator: config.NATS_CREDS_FILE
      ? credsAuthenticator(readFileSync(config.NATS_CREDS_FILE))
      : undefined,
    waitOnFirstConnect: persistent,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Dead-server detection within ~6 s instead of the default 4 minutes.
    pingInterval: 3000,
    maxPingOut: 2,
    // Async traces build two Error objects (stack capture) per request; profiled at ~28% of the
    // consumer's CPU, which issues four requests per event.
    noAsyncTraces: true,
  });
}
