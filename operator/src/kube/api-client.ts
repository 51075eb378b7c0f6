// A small JSON client for the Kubernetes API server, built on the KubeConfig's credentials with
// one keep-alive connection pool. Used for what the generated client-node APIs make awkward: the
// /scale subresource of any resource, merge patches on the status subresource, discovery, and
// lists for the informers. Errors are KubeApiError values carrying the HTTP status, or
// FencedError when a request was refused or cut off because this process stopped leading (see
// fenced-api.ts): callers stop quietly on isFenced(err) instead of retrying.
import type { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** The Status' details.causes messages (what exactly was refused), when the server gave any. */
    readonly causes: readonly string[] = [],
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The messages of a Status' details.causes: only strings are kept, anything else is ignored. */
function statusCauses(body: unknown): string[] {
  const details = body && typeof body === 'object' ? (body as { details?: unknown }).details : undefined;
  const causes =
    details && typeof details === 'object' ? (details as { causes?: unknown }).causes : undefined;
  if (!Array.isArray(causes)) return [];
  return causes.flatMap((c: unknown) => {
    const m = c && typeof c === 'object' ? (c as { message?: unknown }).message : undefined;
    return typeof m === 'string' ? [m] : [];
  });
}

export type FenceReason =
  /** No leadership term: this process does not lead (or never did). */
  | 'NotLeading'
  /** The term is still open but too little of the Lease is left to write safely. */
  | 'LeaseExpiring'
  /** The term ended (renew deadline passed, Lease lost, shutdown): requests in flight are aborted. */
  | 'TermEnded'
  /**
   * The write passed the fence, then this process was frozen (SIGSTOP, a long GC pause) before its
   * bytes left: its API server deadline, counted from the check, no longer ends before a standby
   * may take over. The connection is closed at once so that the API server gives it up.
   */
  | 'SentLate';

/**
 * A request that was not sent (or was aborted in flight) because this process no longer holds the
 * leader Lease with time to spare. Not a failure of the request: the caller must stop quietly — no
 * retry, no error condition, no Event — because another replica is (or will be) in charge.
 */
export class FencedError extends Error {
  constructor(
    readonly reason: FenceReason,
    message: string,
  ) {
    super(message);
    this.name = 'FencedError';
  }
}

/** True for requests refused or aborted because leadership ended: stop quietly, do not retry. */
export function isFenced(err: unknown): err is FencedError {
  return err instanceof FencedError;
}

export interface RequestOptions {
  body?: unknown;
  /** Content type of the body; merge patch by default for PATCH. */
  contentType?: string;
  /** The Accept header; application/json by default. */
  accept?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  /** Aborts the request (before or while it is sent); the request rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called synchronously just before the request's bytes are written — once it has a connected
   * socket (after any wait for a free one or a handshake) and credentials are resolved; throwing
   * refuses the request (nothing is sent) and rejects it with that error.
   */
  beforeSend?: () => void;
  /**
   * Called right after beforeSend: how long (ms) the API server may work on the request from when
   * it receives it, sent as its `timeout` query parameter (the API server gives the request up
   * past it: an admission webhook it waits on is cancelled and the request answered 504). Computed
   * at the send, not when the request was made, so that a wait for a socket is not counted in it.
   * Undefined: no such limit (the API server's own, 60 s).
   */
  serverTimeoutAtSend?: () => number | undefined;
  /**
   * Called right after the request's bytes were handed to the OS. Throwing closes the connection
   * at once (the API server cancels a request whose client went away, if it has not applied it
   * yet: an admission webhook it waits on is cancelled) and rejects the request with that error.
   */
  afterSend?: () => void;
}

export interface KubeApi {
  request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: RequestOptions,
  ): Promise<T>;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';

export class KubeApiClient implements KubeApi {
  private agent: http.Agent | undefined;
  private readonly server: URL;

  /** Called after every request with its verb, outcome (HTTP status or "error") and duration. */
  onRequest: ((verb: string, code: string, seconds: number) => void) | undefined;

  private readonly userAgent: string | undefined;

  /** userAgent names this process to the API server (audit logs, managedFields' manager). */
  constructor(
    private readonly kc: KubeConfig,
    options: { userAgent?: string } = {},
  ) {
    this.userAgent = options.userAgent;
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new Error('the kubeconfig has no current cluster: set KUBECONFIG or run in a cluster');
    this.server = new URL(cluster.server);
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(options.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: https.RequestOptions = { headers: {} };
    // Called per request so rotating tokens (service account, exec plugins) are picked up.
    await this.kc.applyToHTTPSOptions(opts);
    const isHttps = url.protocol === 'https:';
    // client-node builds a fresh agent per call; keep one keep-alive pool instead.
    this.agent ??= isHttps
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 32,
          ca: opts.ca,
          cert: opts.cert,
          key: opts.key,
          rejectUnauthorized: opts.rejectUnauthorized,
          servername: opts.servername,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = {
      Accept: options.accept ?? 'application/json',
      ...(opts.headers as Record<string, string>),
    };
    if (this.userAgent !== undefined) headers['User-Agent'] = this.userAgent;
    if (payload) {
      headers['Content-Type'] =
        options.contentType ?? (method === 'PATCH' ? MERGE_PATCH : 'application/json');
      headers['Content-Length'] = String(payload.length);
    }
    const transport = isHttps ? https : http;
    const started = performance.now();
    const observe = (code: string): void =>
      this.onRequest?.(method, code, (performance.now() - started) / 1000);
    const signal = options.signal;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal, method, path));
        return;
      }
      const req = transport.request(
        url,
        { method, headers, agent: this.agent, auth: opts.auth, timeout: options.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            observe(String(status));
            let body: unknown = undefined;
            try {
              body = text === '' ? undefined : JSON.parse(text);
            } catch {
              body = text;
            }
            if (status >= 200 && status < 300) {
              resolve(body as T);
              return;
            }
            const st =
              body && typeof body === 'object' ? (body as { reason?: unknown; message?: unknown }) : {};
            const reason = typeof st.reason === 'string' ? st.reason : `HTTP${status}`;
            const message = typeof st.message === 'string' ? st.message : `${method} ${path}: HTTP ${status}`;
            reject(new KubeApiError(status, reason, message, statusCauses(body)));
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new Error(
            `${method} ${path}: no answer from the API server within ${options.timeoutMs ?? 30_000} ms`,
          ),
        ),
      );
      req.on('error', (err) => {
        observe('error');
        reject(err);
      });
      if (signal) {
        const onAbort = (): void => {
          const reason = abortReason(signal, method, path);
          reject(reason); // first, so the caller sees the reason and not the socket error it causes
          req.destroy(reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        req.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      // Nothing leaves before write()/end(). A request may wait for a socket (the agent's limit)
      // or for a new connection's handshake; beforeSend (the write fence) runs when it can go out
      // at once, so a wait — in which the process may be frozen — cannot carry a write past it.
      const send = (): void => {
        if (req.destroyed) return;
        try {
          options.beforeSend?.();
          const serverMs = options.serverTimeoutAtSend?.();
          // The request line is written with the first bytes, from req.path as it is then.
          if (serverMs !== undefined)
            req.path += `${req.path.includes('?') ? '&' : '?'}timeout=${Math.max(1, Math.floor(serverMs))}ms`;
        } catch (err) {
          reject(err);
          req.destroy(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (payload) req.write(payload);
        req.end();
        try {
          options.afterSend?.();
        } catch (err) {
          reject(err);
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      };
      req.once('socket', (socket) => {
        // A new socket is still connecting here (this runs on the next tick after it was made):
        // its TCP connect and, for https, its TLS handshake come first.
        if (!req.reusedSocket && socket.connecting) socket.once(isHttps ? 'secureConnect' : 'connect', send);
        else send();
      });
    });
  }

  close(): void {
    this.agent?.destroy();
  }
}

function abortReason(signal: AbortSignal, method: string, path: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(`${method} ${path}: aborted${reason === undefined ? '' : ` (${String(reason)})`}`);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

/**
 * A JSON Patch that could not be applied to the object as it is now: for jetscale's patches, only
 * a `test` operation can fail that way (the object is not the one the patch was built for). The
 * API server answers 422 Invalid without causes (apiserver's jsonPatcher.applyJSPatch); a patched
 * object that fails validation is 422 Invalid too, but always with its field errors as causes.
 */
export function isFailedPatchTest(err: unknown): boolean {
  return (
    err instanceof KubeApiError && err.status === 422 && err.reason === 'Invalid' && err.causes.length === 0
  );
}
