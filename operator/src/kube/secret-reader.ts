// Reads the Secrets EventConsumers point at, one GET per Secret (no list or watch, so RBAC can
// restrict the operator to named Secrets), cached briefly because many EventConsumers usually
// share one Secret and each polls every few seconds.
import { isNotFound, KubeApiError, type KubeApi } from './api-client.js';
import { monotonicNow } from '../clock.js';

export type SecretData = Record<string, string> | undefined;

export class SecretNotFoundError extends Error {
  constructor(
    readonly namespace: string,
    readonly secretName: string,
    readonly forbidden: boolean,
  ) {
    super(
      forbidden
        ? `the operator may not read Secret ${namespace}/${secretName}: grant it get on this Secret (see manifests/rbac/README.md)`
        : `Secret ${namespace}/${secretName} does not exist: create it or fix the secretRef`,
    );
    this.name = 'SecretNotFoundError';
  }
}

export class SecretReader {
  private readonly cache = new Map<string, { at: number; data: Promise<SecretData> }>();

  constructor(
    private readonly api: KubeApi,
    private readonly ttlMs = 30_000,
  ) {}

  read(namespace: string, name: string): Promise<SecretData> {
    const key = `${namespace}/${name}`;
    const cached = this.cache.get(key);
    if (cached && monotonicNow() - cached.at < this.ttlMs) return cached.data;
    const data = this.api
      .request<{ data?: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      )
      .then((secret) => secret.data)
      .catch((err: unknown) => {
        this.cache.delete(key);
        if (isNotFound(err)) throw new SecretNotFoundError(namespace, name, false);
        if (err instanceof KubeApiError && err.status === 403)
          throw new SecretNotFoundError(namespace, name, true);
        throw err;
      });
    this.cache.set(key, { at: monotonicNow(), data });
    return data;
  }
}
