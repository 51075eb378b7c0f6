// jetscale's policy as a simulated autoscaler: the exact `decide` the operator runs, imported from
// operator/src/scaling, called every poll interval like the controller's requeue.

import { decide, emptyHistory } from '../../operator/src/scaling/decide.js';
import type { ScalingDecision, ScalingHistory, ScalingSpec } from '../../operator/src/scaling/types.js';
import type { RequestCounts } from './request-cost.js';
import { JetscaleRequests } from './request-cost.js';
import type { Autoscaler, ClusterView } from './simulator.js';

export class JetscaleAutoscaler implements Autoscaler {
  readonly name: string;
  private history: ScalingHistory = emptyHistory();
  private readonly requestCounter: JetscaleRequests;
  private nextPollAt: number | undefined;
  /** Every decision taken, for tests and for counting how often the forecast was used. */
  readonly decisions: ScalingDecision[] = [];

  constructor(
    private readonly spec: ScalingSpec,
    private readonly pollIntervalSeconds = 5,
    name = 'jetscale',
    private readonly keepDecisions = false,
    private readonly adaptivePoll = true,
  ) {
    this.name = name;
    this.requestCounter = new JetscaleRequests(pollIntervalSeconds);
  }

  requests(): RequestCounts {
    return { ...this.requestCounter.counts };
  }

  forecastUsage(): { decisions: number; used: number } {
    return { decisions: this.decisionCount, used: this.forecastUsedCount };
  }

  private decisionCount = 0;
  private forecastUsedCount = 0;

  tick(view: ClusterView): number | undefined {
    if (this.nextPollAt === undefined) {
      this.nextPollAt = view.now;
      // Like the controller's first poll (operator/src/controller/decide.ts fromBacklog): the
      // stabilization window is seeded with the size the target has, so a process that starts
      // next to a running deployment holds it for one window instead of sizing it from a first
      // reading that has no rates yet.
      this.history = { ...this.history, recommendations: [{ at: view.now, replicas: view.specReplicas }] };
    }
    if (view.now < this.nextPollAt) return undefined;
    const decision = decide({
      spec: this.spec,
      sample: view.sample,
      currentReplicas: view.specReplicas,
      readyReplicas: view.readyReplicas,
      history: this.history,
      now: view.now,
    });
    this.history = decision.history;
    this.requestCounter.poll({
      now: view.now,
      backlog: view.sample.pending + view.sample.ackPending,
      specReplicas: view.specReplicas,
      statusReplicas: view.statusReplicas,
      readyReplicas: view.readyReplicas,
      desired: decision.desiredReplicas,
      state: `${decision.limitedBy ?? ''}|${decision.activity.reason}`,
    });
    // Like the controller: the decision's adaptive poll, never longer than the spec's pollInterval.
    const poll = this.adaptivePoll
      ? Math.min(decision.nextPollSeconds, this.pollIntervalSeconds)
      : this.pollIntervalSeconds;
    this.nextPollAt += poll * 1000;
    this.decisionCount++;
    if (decision.forecast?.used === true) this.forecastUsedCount++;
    if (this.keepDecisions) this.decisions.push(decision);
    return decision.desiredReplicas === view.specReplicas ? undefined : decision.desiredReplicas;
  }
}
