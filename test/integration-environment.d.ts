// Types of test/integration-environment.js (plain JS: jest loads a test environment outside its
// TypeScript transform), for the tests that drive it.
declare const IntegrationEnvironment: unknown;
export default IntegrationEnvironment;
/** Where each integration file's console.log lines go, under the repository root. */
export const TRACE_DIR: string;
/** reports/traces/<the test file's path, '/' as '-', without .test.ts>.log, relative to the root. */
export function traceFileOf(rootDir: string, testPath: string): string;
