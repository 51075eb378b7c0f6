// What the harness needs to know about, and be able to do to, the system under test. The local
// stack (loadtest/local/stack.ts) provides every capability; a kind cluster provides the Kubernetes
// and NATS parts through port-forwards, and faults it cannot inject are reported as not injected.
import type * as k8s from '@kubernetes/client-node';

export interface HarnessTarget {
  /** "local" or a description of the cluster. */
  name: string;
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  /** Base URL of the gateway, e.g. http://127.0.0.1:18080. */
  gatewayUrl: string;
  /**
   * host:port of every ready gateway pod (real node: pod IPs are reachable from the host). The load
   * driver then spreads its connections over them, as a Service does in the kernel, instead of
   * going through the proxy behind gatewayUrl, which would put a second socket per request into
   * the harness' own event loop.
   */
  gatewayBackends?: () => readonly string[];
  natsUrl: string;
  stream: string;
  consumer: string;
  eventLogStream: string;
  /** The workloads' JetStream settings (EVENTS_STREAM, EVENT_LOG_STREAM, …) — what the audit reads. */
  jetstreamEnv: Record<string, string>;
  consumerDeployment: string;
  gatewayDeployment: string;
  eventConsumerName: string;
  /** Label selector of the consumer pods (fault targets). */
  consumerPodSelector: string;
  /** The operator's leader-election Lease. */
  lease: { name: string; namespace: string };
  /** /metrics URLs of the consumer processes (local target). */
  consumerMetricsUrls?: () => string[];
  /** Consumer processes alive (local target). */
  runningConsumers?: () => number;
  /** SIGKILL these pods' containers without going through the API (real node: a crash, no grace);
   *  when absent, kill-consumer-pods deletes the pods with grace 0. Returns what was done. */
  killPods?: (podNames: string[]) => Promise<string>;
  /** SIGKILL the operator replica with this Lease identity; returns what was done. */
  killOperator?: (identity: string) => Promise<string>;
  /** Stop NATS, wait, start it again on the same ports and store. */
  restartNats?: (downSeconds: number) => Promise<void>;
  /** The stack's Prometheus, which scrapes the operator and every pod (local stack). */
  prometheus?: { url: string; intervalSeconds: number };
  /** Settings worth printing in the report (consumer work per event, lease timings, …). */
  settings: Record<string, string | number>;
}
