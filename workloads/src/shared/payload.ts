// What an event's `payload` may hold. It is free-form JSON, so the rules are about what would hurt
// the code downstream rather than about meaning: nesting deep enough to overflow the stack of a
// recursive serialiser (JSON.stringify throws at a few thousand levels), a `__proto__` key (a
// parser-built object keeps it, but any copy made by assignment turns it into a prototype change
// and silently drops it — so it is refused, never dropped), and an `amount` the projection sums,
// bounded so totals stay finite and exact to the cent.
//
// The walk is iterative: the check must not itself overflow on the input it exists to refuse.

/** Nesting levels a payload may have; the payload object itself is level 1. */
export const MAX_PAYLOAD_DEPTH = 32;
/** Largest |payload.amount|: a sum of 2^53 such amounts is still far from overflowing. */
export const MAX_ABS_AMOUNT = 1e12;
/** A key that is refused anywhere in a payload. */
export const FORBIDDEN_KEY = '__proto__';

export interface PayloadIssue {
  /** Path below the payload, e.g. `['items', 3, 'x']`. */
  path: (string | number)[];
  message: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The problems of one payload (at most one per rule, so a hostile payload cannot inflate the
 * answer): empty when it is acceptable.
 */
export function payloadIssues(payload: unknown): PayloadIssue[] {
  if (!isObject(payload)) return [{ path: [], message: 'must be a JSON object' }];
  const issues: PayloadIssue[] = [];
  if (Object.hasOwn(payload, 'amount')) {
    const amount = payload['amount'];
    if (typeof amount !== 'number' || !Number.isFinite(amount) || Math.abs(amount) > MAX_ABS_AMOUNT)
      issues.push({
        path: ['amount'],
        message: `must be a number from -${MAX_ABS_AMOUNT} to ${MAX_ABS_AMOUNT} (MAX_ABS_AMOUNT)`,
      });
  }
  let tooDeep = false;
  let forbidden = false;
  // Only objects and arrays are pushed: a leaf (most of a payload) has nothing to check below it, and
  // pushing it cost an entry and a copy of its path each (the gateway and the consumer check every event).
  const stack: { value: object; path: (string | number)[] }[] = [{ value: payload, path: [] }];
  while (stack.length > 0 && !(tooDeep && forbidden)) {
    const next = stack.pop();
    if (!next) break;
    const { value, path } = next;
    if (path.length >= MAX_PAYLOAD_DEPTH) {
      if (!tooDeep)
        issues.push({
          path: path.slice(0, MAX_PAYLOAD_DEPTH),
          message: `nested deeper than ${MAX_PAYLOAD_DEPTH} levels (MAX_PAYLOAD_DEPTH)`,
        });
      tooDeep = true;
      continue;
    }
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index];
        if (typeof item === 'object' && item !== null) stack.push({ value: item, path: [...path, index] });
      }
      continue;
    }
    for (const key in value) {
      // for-in over a parsed object: own keys only (its prototype is Object.prototype, which has no
      // enumerable keys), without Object.keys' array.
      if (!Object.hasOwn(value, key)) continue;
      if (key === FORBIDDEN_KEY) {
        if (!forbidden)
          issues.push({
            path: [...path, key],
            message: `the key "${FORBIDDEN_KEY}" is not allowed anywhere in a payload (it would be dropped or change an object's prototype downstream)`,
          });
        forbidden = true;
        continue;
      }
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, path: [...path, key] });
    }
  }
  return issues;
}
