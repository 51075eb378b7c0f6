// Installations registering on the real EventConsumer CRD at once (installation-registry.ts): each
// renewal and release is a read and a merge patch preconditioned on the resourceVersion read, so
// installations writing together meet real 409s from the API server. Installed together, renewing
// in step, every one must stay registered; shut down together, each releases or says it could not.
// When a 409 is read again (afterConflict) is specified without I/O in installation-registry.test.
import { kubeConfig, uniqueName } from '../../test/env.js';
import { KubeApiClient } from '../src/kube/api-client.js';
import {
  EVENT_CONSUMER_CRD_PATH,
  InstallationRegistry,
  parseRegistry,
  REGISTRY_ANNOTATION,
  type InstallationEntry,
} from '../src/kube/installation-registry.js';
import { createLogger } from '../src/observability/logger.js';
import { closeKubeApi, installCrd, kubeApi, sleep } from './harness.js';

/**
 * A renewal retries 409s within half a period. At a load average of 22 on 2 cores one read and
 * patch of the CRD took 2.5 s on this stack (measured): with a 5 s period a single 409 used the
 * whole budget and installations dropped out. 15 s leaves room for several tries.
 */
const PERIOD_MS = 15_000;
const PERIODS = 4;

describe('installation registries writing the real EventConsumer CRD together', () => {
  const clients: KubeApiClient[] = [];
  const stop = new AbortController();

  beforeAll(async () => {
    await installCrd();
  });

  afterAll(() => {
    stop.abort();
    for (const c of clients) c.close();
    closeKubeApi();
  });

  async function ours(prefix: string): Promise<InstallationEntry[]> {
    const crd = await kubeApi().request<{ metadata?: { annotations?: Record<string, string> } }>(
      'GET',
      EVENT_CONSUMER_CRD_PATH,
    );
    const parsed = parseRegistry(crd.metadata?.annotations?.[REGISTRY_ANNOTATION]);
    if ('problem' in parsed) throw new Error(`registry annotation: ${parsed.problem}`);
    return parsed.entries.filter((e) => e.installation.startsWith(`${prefix}-`));
  }

  it('four installations installed together and renewing in step all stay registered; shut down together, each releases or says it could not', async () => {
    const prefix = uniqueName('reg');
    const teams = ['a', 'b', 'c', 'd'];
    const logged: string[] = [];
    const logger = createLogger({ level: 'info', write: (line) => logged.push(line) });
    // Each its own client (its own connections), as four operator processes.
    const registries = teams.map((team) => {
      const api = new KubeApiClient(kubeConfig());
      clients.push(api);
      return new InstallationRegistry({
        api,
        self: {
          installation: `${prefix}-${team}/jetscale`,
          holder: `${team}-0`,
          namespaces: [`${prefix}-team-${team}`],
        },
        renewPeriodMs: PERIOD_MS,
        logger,
      });
    });
    // Installed together: the first renewals go out at once, on the same resourceVersion.
    await Promise.all(registries.map((r) => r.renew()));
    for (const r of registries) r.start(stop.signal);
    const covered = (): string[] =>
      teams.filter((team, i) => registries[i]?.covers(`${prefix}-team-${team}`) === true);
    const everyPeriod: string[][] = [covered()];
    for (let p = 0; p < PERIODS; p++) {
      await sleep(PERIOD_MS);
      everyPeriod.push(covered());
    }
    const registered = (await ours(prefix)).map((e) => e.installation).sort();
    const conflicts = registries.reduce((n, r) => n + r.conflictCount(), 0);
    if (JSON.stringify(everyPeriod) !== JSON.stringify(everyPeriod.map(() => teams)))
      process.stderr.write(`[registry together] what they logged:\n${logged.join('\n')}\n`);
    expect(everyPeriod).toEqual(everyPeriod.map(() => teams));
    expect(registered).toEqual(teams.map((t) => `${prefix}-${t}/jetscale`));

    // SIGTERM to all four at once: each marks its entry released, on the same resourceVersion.
    const releasingAt = performance.now();
    await Promise.all(registries.map((r) => r.release()));
    const releaseMs = performance.now() - releasingAt;
    const after = await ours(prefix);
    const releaseConflicts = registries.reduce((n, r) => n + r.conflictCount(), 0) - conflicts;
    const notReleased = after.filter((e) => e.released !== true).map((e) => e.installation);
    const gaveUp = logged
      .filter((l) => l.includes('could not release this installation'))
      .map((l) => (JSON.parse(l) as { installation: string }).installation);
    process.stderr.write(
      `[registry together] ${conflicts} conflicts over ${PERIODS + 1} periods of 4 installations; ${releaseConflicts} while releasing (${Math.round(releaseMs)} ms); not released: ${JSON.stringify(notReleased)}\n`,
    );
    expect(after).toHaveLength(4);
    // Every 409 a release met was another release landing, so at least one landed; one that ran
    // out of its budget (RELEASE_BUDGET_MS: on a slow API server one read and patch can take most
    // of it) says so, and its entry goes stale on its own (deadAfter).
    expect(notReleased.length).toBeLessThan(4);
    expect(gaveUp.sort()).toEqual(notReleased.sort());
    // The real API server refused stale writes: at least the first renewals collided.
    expect(conflicts).toBeGreaterThan(0);
  }, 180_000);
});
