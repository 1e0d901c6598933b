/**
 * Applies the project's test timeout (jest.config.js: `globals.PMAPD_TEST_TIMEOUT_MS`) to every
 * test and hook of that project. jest honours `testTimeout` only in the global configuration, so
 * a `testTimeout` in a project's entry would be silently ignored (it was: e2e tests ran at jest's
 * 5 s default). Tests that pass their own timeout keep it.
 */
declare const PMAPD_TEST_TIMEOUT_MS: unknown;

/** The configured timeout of the running project (ms). */
export function projectTimeoutMs(): number {
  const ms = typeof PMAPD_TEST_TIMEOUT_MS === 'number' ? PMAPD_TEST_TIMEOUT_MS : NaN;
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new Error('jest.config.js: every project sets globals.PMAPD_TEST_TIMEOUT_MS (ms)');
  }
  return ms;
}

jest.setTimeout(projectTimeoutMs());
