// Specifies the HA drills' verdict on audit events: the holder at a /scale write is the holder of
// the last Lease change committed before it (etcd revision order); status and Event writes need the
// writer to hold the Lease when the API server received and when it answered them; failovers are
// measured from the old holder's last renewal.
import {
  checkSingleWriter,
  explainFrozenMidSend,
  failovers,
  parseAuditLog,
  writerOf,
  type AuditEvent,
} from './audit-writes.js';

const ns = 'drill';
const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function lease(rv: number, holder: string | null, writer: string, at: number): AuditEvent {
  return {
    stage: 'ResponseComplete',
    verb: 'update',
    userAgent: `jetscale-operator (${writer})`,
    objectRef: { resource: 'leases', namespace: ns, name: 'lease', apiGroup: 'coordination.k8s.io' },
    responseStatus: { code: 200 },
    responseObject: {
      metadata: { name: 'lease', resourceVersion: String(rv) },
      spec: { holderIdentity: holder },
    },
    requestReceivedTimestamp: t(at),
    stageTimestamp: t(at),
  };
}

function scale(rv: number, writer: string, at: number, code = 200): AuditEvent {
  return {
    stage: 'ResponseComplete',
    verb: 'patch',
    userAgent: `jetscale-operator (${writer})`,
    requestURI: `/apis/apps/v1/namespaces/${ns}/deployments/worker/scale`,
    objectRef: {
      resource: 'deployments',
      subresource: 'scale',
      namespace: ns,
      name: 'worker',
      apiGroup: 'apps',
    },
    responseStatus: { code },
    responseObject: { metadata: { resourceVersion: String(rv) }, spec: { replicas: 3 } },
    requestReceivedTimestamp: t(at),
    stageTimestamp: t(at),
  };
}

function status(writer: string, received: number, answered: number): AuditEvent {
  return {
    stage: 'ResponseComplete',
    verb: 'patch',
    userAgent: `jetscale-operator (${writer})`,
    objectRef: { resource: 'eventconsumers', subresource: 'status', namespace: ns, name: 'worker' },
    responseStatus: { code: 200 },
    requestReceivedTimestamp: t(received),
    stageTimestamp: t(answered),
  };
}

/**
 * A poll's read of its target: the Deployment itself (scale-client.ts reads the object for
 * Deployments and StatefulSets), or /scale for other kinds.
 */
function read(reader: string, at: number, what: 'object' | 'scale' | 'secret' = 'object'): AuditEvent {
  const objectRef =
    what === 'secret'
      ? { resource: 'secrets', namespace: ns, name: 'nats', apiGroup: '' }
      : {
          resource: 'deployments',
          ...(what === 'scale' ? { subresource: 'scale' } : {}),
          namespace: ns,
          name: 'worker',
          apiGroup: 'apps',
        };
  return {
    stage: 'ResponseComplete',
    verb: 'get',
    userAgent: `jetscale-operator (${reader})`,
    objectRef,
    responseStatus: { code: 200 },
    requestReceivedTimestamp: t(at),
    stageTimestamp: t(at),
  };
}

const scope = { namespace: ns, leaseNamespace: ns, leaseName: 'lease' };

describe('checkSingleWriter', () => {
  it('accepts writes by the holder and flags a /scale write committed after another took the Lease', () => {
    const report = checkSingleWriter(
      [
        lease(10, 'a', 'a', 0),
        scale(11, 'a', 1),
        lease(12, 'a', 'a', 2),
        lease(20, 'b', 'b', 12),
        // a's write arrives after b's acquisition in etcd order, although its timestamp is earlier.
        scale(21, 'a', 11),
        scale(22, 'b', 13),
        scale(23, 'a', 14, 409),
      ],
      scope,
    );
    expect(report.writes.map((w) => `${w.writer}@${w.revision}:${w.holders.join(',')}`)).toEqual([
      'a@11:a',
      'a@21:b',
      'b@22:b',
    ]);
    expect(report.violations.map((w) => w.revision)).toEqual([21]);
    expect(report.rejected).toBe(1);
  });

  it('flags a status write while nobody or someone else held the Lease (by the API server clock)', () => {
    const report = checkSingleWriter(
      [
        lease(10, 'a', 'a', 0),
        status('a', 1, 1),
        lease(20, 'b', 'b', 5),
        status('a', 4, 6),
        status('b', 7, 7),
      ],
      scope,
    );
    expect(report.violations.map((w) => `${w.writer}:${w.holders.join(',')}`)).toEqual(['a:a,b']);
  });

  it('explains, per freeze, one write by the frozen replica received between its resume and its exit; not one received while frozen, a second, or its restart', () => {
    const report = checkSingleWriter(
      [
        lease(10, 'a', 'a', 0),
        lease(20, 'b', 'b', 9),
        status('a', 10, 10), // received while a was frozen (held on the API server): not explained
        status('a', 13, 13), // the write cut between its check and its send: explained
        status('a', 14, 14), // a second one: not explained
        status('a', 20, 20), // a's restart (after the exit): not explained
        status('b', 21, 21),
      ],
      scope,
    );
    const at = (s: number): number => Date.parse(t(s));
    const { violations, explained } = explainFrozenMidSend(report.violations, [
      { identity: 'a', resumedAt: at(12), exitedAt: at(15) },
    ]);
    expect(explained.map((w) => w.receivedAt)).toEqual([at(13)]);
    expect(violations.map((w) => w.receivedAt)).toEqual([at(10), at(14), at(20)]);
    expect(explainFrozenMidSend(report.violations, []).violations).toHaveLength(4);
  });

  it('ignores other namespaces, other Leases and writers that are not operator replicas', () => {
    const other = { ...scale(30, 'x', 1), objectRef: { ...scale(30, 'x', 1).objectRef, namespace: 'other' } };
    const kubectl = { ...scale(31, 'x', 1), userAgent: 'kubectl/v1.34.4' };
    const report = checkSingleWriter([lease(10, 'a', 'a', 0), other, kubectl], scope);
    expect(report.writes).toEqual([]);
  });

  it('measures a failover from the old holder’s last renewal to the new holder’s acquisition and first write', () => {
    const report = checkSingleWriter(
      [lease(10, 'a', 'a', 0), lease(12, 'a', 'a', 2), lease(20, 'b', 'b', 11), scale(21, 'b', 12)],
      scope,
    );
    const [f] = failovers(report);
    expect(f?.from).toBe('a');
    expect(f?.to).toBe('b');
    expect(f && f.acquiredAt - f.lastRenewalAt).toBe(9000);
    expect(f && (f.firstWriteAt ?? 0) - f.lastRenewalAt).toBe(10_000);
  });

  it('ends a failover at the new holder’s first read of the target after acquiring, not at its first write', () => {
    const report = checkSingleWriter(
      [
        lease(10, 'a', 'a', 0),
        read('b', 1), // a standby does not read targets; if one did, it would not count before acquiring
        read('a', 2),
        lease(12, 'a', 'a', 2),
        lease(20, 'b', 'b', 11),
        read('a', 11), // the old holder, still polling: not the new one's poll
        read('b', 11.5, 'secret'), // not a read of the target
        read('b', 12),
        read('b', 13, 'scale'),
        scale(21, 'b', 30), // the backlog asked for a change only much later
      ],
      scope,
    );
    expect(report.reads.map((r) => r.reader)).toEqual(['b', 'a', 'a', 'b', 'b']);
    expect(report.writes.map((w) => w.kind)).toEqual(['scale']);
    const [f] = failovers(report);
    expect(f && (f.firstPollAt ?? 0) - f.lastRenewalAt).toBe(10_000);
    expect(f && (f.firstWriteAt ?? 0) - f.lastRenewalAt).toBe(28_000);
  });

  it('counts the new holder’s renewals between acquiring and its first poll', () => {
    const report = checkSingleWriter(
      [
        lease(10, 'a', 'a', 0),
        lease(20, 'b', 'b', 9),
        lease(21, 'b', 'b', 10),
        lease(22, 'b', 'b', 11),
        read('b', 12),
        lease(23, 'b', 'b', 13), // after the first poll
        lease(30, 'a', 'a', 30), // the next failover's
        read('a', 31),
      ],
      scope,
    );
    expect(failovers(report).map((f) => [f.to, f.renewalsBeforeFirstPoll])).toEqual([
      ['b', 2],
      ['a', 0],
    ]);
  });

  it('has no first poll when the new holder never read its target', () => {
    const report = checkSingleWriter([lease(10, 'a', 'a', 0), lease(20, 'b', 'b', 9), read('a', 10)], scope);
    expect(failovers(report)[0]?.firstPollAt).toBeUndefined();
    expect(failovers(report)[0]?.renewalsBeforeFirstPoll).toBeUndefined();
  });
});

describe('audit log parsing', () => {
  it('keeps completed requests and skips a line still being written', () => {
    const text = `${JSON.stringify(scale(11, 'a', 1))}\n${JSON.stringify({ ...scale(12, 'a', 1), stage: 'ResponseStarted' })}\n{"stage":"Respo`;
    expect(parseAuditLog(text)).toHaveLength(1);
  });

  it('names the writer from the operator’s User-Agent', () => {
    expect(writerOf('jetscale-operator (jetscale-operator-7d9f-abc)')).toBe('jetscale-operator-7d9f-abc');
    expect(writerOf('kubectl/v1.34.4 (linux/amd64)')).toBeUndefined();
  });
});
