/**
 * The e2e project's test timeout. jest reads `testTimeout` only from the global config, never from
 * a project's, so the `testTimeout: 60000` in jest.config.js's e2e project alone left e2e tests
 * and hooks at jest's 5 s default (flaky under load). Tests that give their own timeout keep it.
 */
jest.setTimeout(60000);
