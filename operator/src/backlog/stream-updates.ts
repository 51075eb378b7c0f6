// Tells when a stream was edited in place, from nats-server's
// $JS.EVENT.ADVISORY.STREAM.UPDATED.<stream> advisories (stream.go update → sendUpdateAdvisoryLocked,
// sent by the stream's leader for every accepted edit). Users edit streams in place (nats stream
// edit, NACK, Terraform): the stream keeps its name, its consumers and their `created`, so nothing a
// consumer's reading carries says that its config changed — a source added, a limit set. The
// operator keeps each stream's config (jetstream-backlog-source.ts streamFacts) and asks for it again
// when this says the stream was edited since it was read.
//
// One subscription per connection, made at the first stream config read on it. Advisories are core
// NATS messages: lost while the connection is down, so every disconnect or reconnect starts a new
// epoch, and a config read in an earlier one is not known to be current. A user whose permissions
// do not allow the subscription (it is optional) leaves the watch without an epoch: configs are then
// read again after a shorter time (STREAM_CONFIG_UNWATCHED_TTL_MS).
import type { NatsConnection } from '@nats-io/transport-node';

export const STREAM_UPDATED_SUBJECT = '$JS.EVENT.ADVISORY.STREAM.UPDATED';

/** When a stream's config was read, as far as its edits are concerned (StreamUpdates.mark). */
export interface UpdateMark {
  /** The watch's epoch then; 0 when edits were not being seen. */
  epoch: number;
  /** The stream's edits seen before then, in that epoch. */
  edits: number;
}

/** Epochs are drawn from one counter, so marks of different connections never compare. */
let nextEpoch = 1;

export class StreamUpdates {
  /** Edits seen per stream in the current epoch (only streams whose config is kept: `kept`). */
  private readonly edits = new Map<string, number>();
  private epoch = 0;
  private problem: string | undefined;
  private told = false;
  readonly ready: Promise<void>;

  /**
   * `kept(stream)`: whether the config of that stream is kept on this connection; edits of other
   * streams of the account are not counted (nothing would forget them).
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly kept: (stream: string) => boolean,
  ) {
    this.ready = this.start();
  }

  private async start(): Promise<void> {
    try {
      const subscription = this.nc.subscribe(`${STREAM_UPDATED_SUBJECT}.*`, {
        callback: (err, msg) => {
          if (err) {
            this.problem = `this NATS user may not subscribe to ${STREAM_UPDATED_SUBJECT}.* (${err.message})`;
            this.epoch = 0;
            return;
          }
          const stream = msg.subject.slice(STREAM_UPDATED_SUBJECT.length + 1);
          if (this.kept(stream)) this.edits.set(stream, (this.edits.get(stream) ?? 0) + 1);
        },
      });
      // The server answers SUB with -ERR before the PONG of a later PING when it is not allowed.
      await this.nc.flush();
      if (this.problem === undefined && !subscription.isClosed()) {
        this.newEpoch();
        void this.watchStatus();
      }
    } catch (err) {
      this.problem = `the ${STREAM_UPDATED_SUBJECT}.* subscription failed (${err instanceof Error ? err.message : String(err)})`;
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      // Advisories sent while disconnected are lost: marks before and after do not compare.
      if (!['ping', 'update', 'ldm'].includes(status.type) && this.problem === undefined) this.newEpoch();
    }
  }

  private newEpoch(): void {
    this.epoch = nextEpoch++;
    this.edits.clear();
  }

  /** Why edits cannot be seen on this connection (a refused subscription), once; else undefined. */
  tellUnseenOnce(): string | undefined {
    if (this.told || this.problem === undefined) return undefined;
    this.told = true;
    return this.problem;
  }

  /** A stream's mark now: taken just before its config is asked for. */
  mark(stream: string): UpdateMark {
    return { epoch: this.epoch, edits: this.epoch === 0 ? 0 : (this.edits.get(stream) ?? 0) };
  }

  /** Whether edits of the stream were seen throughout since `mark`, and there were none. */
  unchangedSince(stream: string, mark: UpdateMark): boolean {
    return (
      mark.epoch !== 0 &&
      mark.epoch === this.epoch &&
      !this.nc.isClosed() &&
      (this.edits.get(stream) ?? 0) === mark.edits
    );
  }
}
