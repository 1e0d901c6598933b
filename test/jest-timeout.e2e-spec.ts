/** The e2e project's own test timeout applies (jest.config.js; test/jest-timeout.ts). */
import { projectTimeoutMs } from './jest-timeout';

it("runs the e2e project with its configured timeout, not jest's 5 s default", () => {
  expect(projectTimeoutMs()).toBe(60000);
  // what jest.setTimeout() set for this file's tests and hooks
  expect((globalThis as Record<symbol, unknown>)[Symbol.for('TEST_TIMEOUT_SYMBOL')]).toBe(60000);
});
