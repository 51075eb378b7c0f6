// Named points in the operator's code where the HA drills (operator/test/pause-point.mjs) freeze
// the main thread, as a long stop-the-world pause would freeze it there. Each is a call of one of
// these empty functions at the place; the drill finds the function through a global registry (only
// set when JETSCALE_PAUSE_DIR names a drill's directory) and breaks on its call with the V8
// inspector. Before, the drill set its breakpoint on the first line of the compiled source
// containing a piece of text (`plural, 'PATCH', path`): a reformatting, a rename or another call
// with the same text moved it or broke it. A point cannot drift from its call, and a point
// renamed or removed fails the drill at once (its name is not registered).
export const pausePoints = {
  /** In ScaleClient.setReplicas: the /scale PATCH is decided and about to be sent. */
  beforeScaleWrite(): void {},
};

export type PausePointName = keyof typeof pausePoints;

/** Where pause-point.mjs looks the points up (`globalThis[Symbol.for(...)]`). */
export const PAUSE_POINTS_KEY = 'jetscale.pausePoints';

if (process.env.JETSCALE_PAUSE_DIR !== undefined)
  (globalThis as Record<symbol, unknown>)[Symbol.for(PAUSE_POINTS_KEY)] = pausePoints;
