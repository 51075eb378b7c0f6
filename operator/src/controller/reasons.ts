// Condition reasons for the errors the observe and act steps meet, in one place so a failure
// reads the same wherever it happens.
import type { BacklogErrorKind } from '../backlog/backlog-error.js';
import type { ScaleErrorKind } from '../kube/scale-client.js';

export const BACKLOG_REASONS: Record<BacklogErrorKind, string> = {
  StreamNotFound: 'StreamNotFound',
  ConsumerNotFound: 'ConsumerNotFound',
  Unreachable: 'NatsUnreachable',
  Busy: 'NatsBusy',
  Unauthorized: 'NatsUnauthorized',
  TlsFailed: 'NatsTlsFailed',
  JetStreamDisabled: 'NatsJetStreamDisabled',
  Invalid: 'NatsRequestFailed',
};

export const SCALE_REASONS: Record<ScaleErrorKind, string> = {
  TargetNotFound: 'TargetNotFound',
  Forbidden: 'TargetForbidden',
  NotScalable: 'TargetNotScalable',
  ReplicasUnset: 'TargetReplicasUnset',
  Conflict: 'ScaleConflict',
  Refused: 'ScaleRefused',
  Deleting: 'TargetDeleting',
  ConversionFailed: 'TargetConversionFailed',
  Slow: 'TargetSlow',
  // Another controller holds the target's replicas, as an HPA or an older EventConsumer does.
  OwnerScales: 'TargetConflict',
};
