// The narrow interface between the controller and wherever a consumer's backlog comes from:
// read one sample, and release what the source holds. The JetStream implementation is
// jetstream-backlog-source.ts; tests and the benchmark may supply others.
import type { BacklogSample } from '../scaling/types.js';
import type { BacklogError } from './backlog-error.js';

export type BacklogReading = { ok: true; sample: BacklogSample } | { ok: false; error: BacklogError };

export interface BacklogSource {
  read(): Promise<BacklogReading>;
  close(): void;
}
