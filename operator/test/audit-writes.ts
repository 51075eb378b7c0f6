// Reads the API server's audit log (hack/stack/cluster.ts, AUDIT_POLICY) and answers the HA drills'
// question: did any write that changes the world come from a process that was not the Lease holder
// at that moment? The writer is named by its User-Agent ("jetscale-operator (<identity>)", set in
// run-operator.ts). "At that moment" is etcd's order where the log has it: a /scale write's
// response carries the resourceVersion etcd committed it at, and so does every Lease write, so
// the holder at a /scale write is the holder written by the last Lease change before it. Status
// and Event writes are logged as metadata only; for them the holder must be the writer both when
// the API server received the request and when it answered (the API server's own clock). Reads of
// scale targets (metadata only) mark each replica's polls: a failover is done at the new holder's first.
// Pure: parsing and checking take text and return values.

export interface AuditEvent {
  stage?: string;
  verb?: string;
  requestURI?: string;
  userAgent?: string;
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number };
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

/** The events of a JSON-lines audit log that completed (one per request). */
export function parseAuditLog(text: string): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const event = JSON.parse(line) as AuditEvent;
      if (event.stage === 'ResponseComplete') events.push(event);
    } catch {
      // A line being written while we read; the next read has it whole.
    }
  }
  return events;
}

/** The operator replica that made a request, from its User-Agent. */
export function writerOf(userAgent: string | undefined): string | undefined {
  const m = /^jetscale-operator \((.+)\)$/.exec(userAgent ?? '');
  return m?.[1];
}

export interface LeaseChange {
  /** etcd revision of the change. */
  revision: number;
  /** Holder after the change ('' when released). */
  holder: string;
  /** Who made the change. */
  writer: string;
  /** API server time the change was answered (ms since the epoch). */
  at: number;
}

export interface GuardedWrite {
  kind: 'scale' | 'status' | 'event';
  writer: string;
  verb: string;
  uri: string;
  code: number;
  /** etcd revision (/scale only). */
  revision?: number;
  receivedAt: number;
  at: number;
  /** /scale: replicas written. */
  replicas?: number;
  /** Holder when the write was committed (by revision) or received and answered (by time). */
  holders: string[];
}

/**
 * A read of a scale target by an operator replica — a Deployment or StatefulSet (the operator reads
 * the object for these, for its ready replicas) or any /scale — which each of its polls makes.
 */
export interface TargetRead {
  reader: string;
  /** API server time the read arrived (ms since the epoch). */
  receivedAt: number;
}

export interface SingleWriterReport {
  leaseChanges: LeaseChange[];
  /** Every successful write by an operator replica in the namespace, in order. */
  writes: GuardedWrite[];
  /** Every read of a scale target by an operator replica in the namespace, in order of arrival. */
  reads: TargetRead[];
  /** Writes by a process that was not the holder: must be empty. */
  violations: GuardedWrite[];
  /** Writes the API server refused (409 and the like); they changed nothing. */
  rejected: number;
}

function resourceVersion(obj: unknown): number | undefined {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
  if (typeof rv !== 'string' || !/^\d+$/.test(rv)) return undefined;
  return Number(rv);
}

function time(ts: string | undefined): number {
  return ts === undefined ? NaN : Date.parse(ts);
}

/** Checks every operator write in `namespace` against the Lease `leaseName` (in `leaseNamespace`). */
export function checkSingleWriter(
  events: AuditEvent[],
  scope: { namespace: string; leaseNamespace: string; leaseName: string },
): SingleWriterReport {
  const ok = (e: AuditEvent): boolean => {
    const code = e.responseStatus?.code ?? 0;
    return code >= 200 && code < 300;
  };
  const leaseChanges: LeaseChange[] = [];
  for (const e of events) {
    const ref = e.objectRef;
    if (ref?.resource !== 'leases' || ref.namespace !== scope.leaseNamespace) continue;
    if (ref.name !== scope.leaseName && !(e.verb === 'create' && leaseNameOf(e) === scope.leaseName))
      continue;
    if (!ok(e) || e.verb === 'get') continue;
    const revision = resourceVersion(e.responseObject);
    if (revision === undefined) continue;
    const holder =
      (e.responseObject as { spec?: { holderIdentity?: string | null } } | undefined)?.spec?.holderIdentity ??
      '';
    leaseChanges.push({ revision, holder, writer: writerOf(e.userAgent) ?? '?', at: time(e.stageTimestamp) });
  }
  leaseChanges.sort((a, b) => a.revision - b.revision);

  const holderAtRevision = (revision: number): string => {
    let holder = '';
    for (const c of leaseChanges) {
      if (c.revision >= revision) break;
      holder = c.holder;
    }
    return holder;
  };
  const byTime = [...leaseChanges].sort((a, b) => a.at - b.at);
  const holderAtTime = (at: number): string => {
    let holder = '';
    for (const c of byTime) {
      if (c.at > at) break;
      holder = c.holder;
    }
    return holder;
  };

  const writes: GuardedWrite[] = [];
  const reads: TargetRead[] = [];
  let rejected = 0;
  for (const e of events) {
    const ref = e.objectRef;
    const writer = writerOf(e.userAgent);
    if (writer === undefined || ref?.namespace !== scope.namespace) continue;
    if (e.verb === 'get' && isTargetRead(ref)) {
      reads.push({ reader: writer, receivedAt: time(e.requestReceivedTimestamp) });
      continue;
    }
    if (e.verb === 'get' || e.verb === 'list' || e.verb === 'watch') continue;
    let kind: GuardedWrite['kind'] | undefined;
    if (ref.subresource === 'scale') kind = 'scale';
    else if (ref.resource === 'eventconsumers' && ref.subresource === 'status') kind = 'status';
    else if (ref.resource === 'events') kind = 'event';
    if (kind === undefined) continue;
    if (!ok(e)) {
      rejected++;
      continue;
    }
    const write: GuardedWrite = {
      kind,
      writer,
      verb: e.verb ?? '?',
      uri: e.requestURI ?? '',
      code: e.responseStatus?.code ?? 0,
      receivedAt: time(e.requestReceivedTimestamp),
      at: time(e.stageTimestamp),
      holders: [],
    };
    const revision = kind === 'scale' ? resourceVersion(e.responseObject) : undefined;
    if (revision !== undefined) {
      write.revision = revision;
      write.holders = [holderAtRevision(revision)];
      const replicas = (e.responseObject as { spec?: { replicas?: number } } | undefined)?.spec?.replicas;
      if (replicas !== undefined) write.replicas = replicas;
    } else {
      write.holders = [holderAtTime(write.receivedAt), holderAtTime(write.at)];
    }
    writes.push(write);
  }
  writes.sort((a, b) => a.at - b.at);
  reads.sort((a, b) => a.receivedAt - b.receivedAt);
  const violations = writes.filter((w) => w.holders.some((h) => h !== w.writer));
  return { leaseChanges, writes, reads, violations, rejected };
}

/** GET of a Deployment, a StatefulSet or any /scale subresource. */
function isTargetRead(ref: NonNullable<AuditEvent['objectRef']>): boolean {
  if (ref.subresource === 'scale') return true;
  return (
    ref.apiGroup === 'apps' &&
    (ref.resource === 'deployments' || ref.resource === 'statefulsets') &&
    ref.subresource === undefined
  );
}

function leaseNameOf(e: AuditEvent): string | undefined {
  return (e.responseObject as { metadata?: { name?: string } } | undefined)?.metadata?.name;
}

export interface Failover {
  from: string;
  to: string;
  /** The old holder's last renewal (API server time, ms since the epoch). */
  lastRenewalAt: number;
  /** The new holder's acquisition. */
  acquiredAt: number;
  /**
   * The new holder's first poll after acquiring: its first read of the scale target, which a new
   * term's first reconcile always makes (it starts with nothing cached). Failover is done here.
   */
  firstPollAt: number | undefined;
  /**
   * The new holder's Lease renewals after acquiring and before its first poll (undefined without
   * one): how long failover took in the new leader's own steps (one renewal every retry period),
   * which a loaded machine slows down alike, where milliseconds measure the machine's load too.
   */
  renewalsBeforeFirstPoll: number | undefined;
  /**
   * The new holder's first write to the EventConsumer or its target after acquiring, if any. Not
   * a failover time: a leader writes only when the backlog asks for a change, whenever that is.
   */
  firstWriteAt: number | undefined;
}

/** Every change of holder from one replica to another (a release in between counts as from the releaser). */
export function failovers(report: SingleWriterReport): Failover[] {
  const result: Failover[] = [];
  let last: LeaseChange | undefined; // the last change made while someone held the Lease
  for (const c of report.leaseChanges) {
    if (c.holder === '') {
      continue;
    }
    if (last && c.holder !== last.holder) {
      const first = report.writes.find((w) => w.writer === c.holder && w.at >= c.at);
      const poll = report.reads.find((r) => r.reader === c.holder && r.receivedAt >= c.at);
      result.push({
        from: last.holder,
        to: c.holder,
        lastRenewalAt: last.at,
        acquiredAt: c.at,
        firstPollAt: poll?.receivedAt,
        renewalsBeforeFirstPoll:
          poll === undefined
            ? undefined
            : report.leaseChanges.filter(
                (r) => r.holder === c.holder && r.revision > c.revision && r.at < poll.receivedAt,
              ).length,
        firstWriteAt: first?.at,
      });
    }
    last = c;
  }
  return result;
}

/**
 * A replica a drill froze (SIGSTOP) and resumed, until that process exited (times in ms since the
 * epoch, on this machine's clock, which the API server's audit log shares).
 */
export interface Freeze {
  identity: string;
  resumedAt: number;
  exitedAt: number;
}

/**
 * The violations a freeze explains, and the rest. A process frozen between a write's fence check
 * and the hand-off of its bytes to the OS sends that write when it resumes, with an API server
 * deadline counted from the check: the one window a lease-based client cannot close from its side
 * (client-go's leaderelection "does not guarantee that only one client is acting as a leader (a.k.a.
 * fencing)"). The operator closes such a write's connection the moment it is out (FencedError
 * SentLate), which the API server notices unless it was quicker; this cannot be judged as a
 * guarantee. Explained, per freeze: at most one write by the frozen replica, received after it
 * resumed and before that process exited (its fence refuses anything checked after the resume; it
 * checks and sends in one synchronous step, so only one write can be cut between the two; its
 * restart under the same identity starts after the exit). Not explained: a write received while
 * it was frozen (held on the API server past its term), a second one, or one by its restart.
 */
export function explainFrozenMidSend(
  violations: GuardedWrite[],
  freezes: Freeze[],
): { violations: GuardedWrite[]; explained: GuardedWrite[] } {
  const explained: GuardedWrite[] = [];
  for (const f of freezes) {
    const first = violations
      .filter((w) => w.writer === f.identity && w.receivedAt >= f.resumedAt && w.receivedAt <= f.exitedAt)
      .sort((a, b) => a.receivedAt - b.receivedAt)[0];
    if (first) explained.push(first);
  }
  return { violations: violations.filter((w) => !explained.includes(w)), explained };
}
