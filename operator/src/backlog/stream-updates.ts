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
//
// Anyone who may publish in the account can send any number of messages under the subject, and a
// server the tenant controls can send the subscription anything: each is a nats.js message and a
// callback on the operator's one event loop (at 38,000 a second it held the loop up to 1.3 s). A
// stream is edited a few times a day; so above ADVISORY_LIMITS.maxPerSecond in a second the watch
// leaves the subscription (advisory-storm.ts, as drop-advisories.ts does), and edits are not seen (configs are read
// again after the shorter time) until it subscribes again after a pause, doubled at each such
// storm in a row, in a new epoch.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { AdvisoryStorms, advisoryLimitText } from './advisory-storm.js';

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
  private subscription: Subscription | undefined;
  private readonly storms = new AdvisoryStorms();
  private watching = false;
  /** Subscriptions made (the first, and one after each storm's pause). */
  subscriptions = 0;
  ready: Promise<void>;

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
      this.storms.subscribed();
      this.subscriptions++;
      const subscription = this.nc.subscribe(`${STREAM_UPDATED_SUBJECT}.*`, {
        callback: (err, msg) => {
          if (err) {
            this.problem = `this NATS user may not subscribe to ${STREAM_UPDATED_SUBJECT}.* (${err.message})`;
            this.epoch = 0;
            return;
          }
          if (subscription !== this.subscription) return; // left: what was already on its way
          if (this.storms.tooMany()) return this.leave();
          const stream = msg.subject.slice(STREAM_UPDATED_SUBJECT.length + 1);
          if (this.kept(stream)) this.edits.set(stream, (this.edits.get(stream) ?? 0) + 1);
        },
      });
      this.subscription = subscription;
      // The server answers SUB with -ERR before the PONG of a later PING when it is not allowed.
      await this.nc.flush();
      if (this.problem === undefined && !subscription.isClosed() && subscription === this.subscription) {
        this.newEpoch();
        if (!this.watching) {
          this.watching = true;
          void this.watchStatus();
        }
      }
    } catch (err) {
      this.problem = `the ${STREAM_UPDATED_SUBJECT}.* subscription failed (${err instanceof Error ? err.message : String(err)})`;
    }
  }

  /**
   * Too many advisories: leaves the subscription (the server stops sending them once it reads the
   * UNSUB; what was on its way is dropped) and subscribes again after a pause. Edits are not seen
   * meanwhile: every config kept is read again at its next reading, then after the shorter time.
   */
  private leave(): void {
    const subscription = this.subscription;
    if (subscription === undefined || this.nc.isClosed()) return;
    this.subscription = undefined;
    const pause = this.storms.leave(subscription, this.nc, () => {
      this.problem = undefined;
      this.ready = this.start();
    });
    const limit = advisoryLimitText();
    this.problem = `stream-edit advisories came faster than ${limit} a second on this connection (someone publishing under ${STREAM_UPDATED_SUBJECT}?), so the operator stopped taking them for ${Math.round(pause / 1000)}s`;
    this.told = false; // each storm is told once
    this.epoch = 0;
    this.edits.clear();
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      // Advisories sent while disconnected are lost: marks before and after do not compare.
      if (!['ping', 'update', 'ldm'].includes(status.type) && this.problem === undefined) this.newEpoch();
    }
    this.storms.stop();
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
