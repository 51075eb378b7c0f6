// Kubernetes-style duration strings ("500ms", "15s", "5m", "1h30m") as the CRD accepts them,
// converted to seconds for the scaling policy. The CRD's pattern and CEL rules reject bad values
// first; this parser is the edge check for objects that bypassed them (e.g. an older CRD).

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** The same pattern the CRD uses for every duration field. */
export const DURATION_PATTERN = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

/** Seconds in a duration string, or undefined when it is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  if (!DURATION_PATTERN.test(text)) return undefined;
  let total = 0;
  for (const part of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    const [, amount, unit] = part;
    const factor = unit === undefined ? undefined : UNIT_SECONDS[unit];
    if (amount === undefined || factor === undefined) return undefined;
    total += Number(amount) * factor;
  }
  return total;
}

/** Formats seconds the way the CRD writes durations, for messages ("90s", "1.5s"). */
export function formatSeconds(seconds: number): string {
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, '')}s`;
}
