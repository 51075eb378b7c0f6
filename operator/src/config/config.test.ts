// Specifies how the operator reads its environment: defaults, accepted values, and errors that
// name the variable and what it accepts.
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('uses safe defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      metricsPort: 8080,
      logLevel: 'info',
      leaderElection: true,
      leaseName: 'jetscale-operator',
      leaseNamespace: 'default',
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      workers: 32,
      statusRefreshSeconds: 300,
      statusReadingsSeconds: 30,
      targetRefreshSeconds: 15,
    });
    expect(config.namespaces).toBeUndefined();
  });

  it('reads a comma-separated namespace list and "*" for all', () => {
    expect(loadConfig({ JETSCALE_NAMESPACES: 'a, b,a' }).namespaces).toEqual(['a', 'b']);
    expect(loadConfig({ JETSCALE_NAMESPACE: 'only' }).namespaces).toEqual(['only']);
    expect(loadConfig({ JETSCALE_NAMESPACES: '*' }).namespaces).toBeUndefined();
  });

  it('takes the lease namespace from the service account when not set', () => {
    expect(loadConfig({}, () => 'jetscale-system').leaseNamespace).toBe('jetscale-system');
    expect(loadConfig({ JETSCALE_LEASE_NAMESPACE: 'ops' }, () => 'jetscale-system').leaseNamespace).toBe(
      'ops',
    );
  });

  it('reports every bad variable at once, by name', () => {
    let error: unknown;
    try {
      loadConfig({
        JETSCALE_METRICS_PORT: 'eighty',
        JETSCALE_LOG_LEVEL: 'loud',
        JETSCALE_LEADER_ELECTION: 'maybe',
        JETSCALE_NAMESPACES: 'Bad_NS',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const key of [
      'JETSCALE_METRICS_PORT',
      'JETSCALE_LOG_LEVEL',
      'JETSCALE_LEADER_ELECTION',
      'JETSCALE_NAMESPACES',
    ])
      expect(message).toContain(key);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('fences the scale targets at a takeover only when asked (JETSCALE_FENCE_TARGETS), and only with leader election', () => {
    expect(loadConfig({}).fenceTargets).toBe(false);
    expect(loadConfig({ JETSCALE_FENCE_TARGETS: 'true' }).fenceTargets).toBe(true);
    expect(() => loadConfig({ JETSCALE_FENCE_TARGETS: 'sometimes' })).toThrow(
      /JETSCALE_FENCE_TARGETS="sometimes": expected true or false/,
    );
    expect(() => loadConfig({ JETSCALE_FENCE_TARGETS: 'true', JETSCALE_LEADER_ELECTION: 'false' })).toThrow(
      /JETSCALE_FENCE_TARGETS=true needs leader election/,
    );
  });

  it('rejects lease timings that cannot keep a leader', () => {
    expect(() =>
      loadConfig({ JETSCALE_LEASE_DURATION_SECONDS: '5', JETSCALE_LEASE_RENEW_DEADLINE_SECONDS: '10' }),
    ).toThrow(/renew deadline/);
  });
});
