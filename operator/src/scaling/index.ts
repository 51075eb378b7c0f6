// The scaling core's public surface: the contract types, the policy, its defaults and helpers.

export * from './types.js';
export { decide, emptyHistory, TOLERANCE, RATE_HEADROOM } from './decide.js';
export {
  defaultScalingSpec,
  defaultScaleUp,
  defaultScaleDown,
  defaultPredictive,
  withScalingDefaults,
  scalingSpecProblems,
} from './defaults.js';
export type { ScalingSpecInput } from './defaults.js';
export { stabilize, scaleUpLimit, scaleDownLimit } from './behavior.js';
export { observeRates, ratesOf } from './rates.js';
export type { RateState } from './rates.js';
export { observeArrival, forecastArrival } from './forecast.js';
export type { ForecastState, ForecastResult } from './forecast.js';
