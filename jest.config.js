/**
 * Unit specs live next to the code; e2e specs in test/.
 *
 * Test timeouts per project: jest reads `testTimeout` only from the global configuration, never
 * from a project's, so each project states its own in `globals.PMAPD_TEST_TIMEOUT_MS` and
 * test/jest-timeout.ts applies it (checked by test/jest-timeout.spec.ts in the unit project and
 * test/jest-timeout.e2e-spec.ts in the e2e project). They are generous on purpose: a timeout is
 * there to end a test that hangs, not to measure speed.
 */
const moduleNameMapper = {
  '^@app/(domain|procfs|pmap-format|proto|ve|tls)$': '<rootDir>/libs/$1/src',
};
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] };
const setupFilesAfterEnv = ['<rootDir>/test/jest-timeout.ts'];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: __dirname,
      roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
      testMatch: ['**/*.spec.ts'],
      moduleNameMapper,
      transform,
      setupFilesAfterEnv,
      globals: { PMAPD_TEST_TIMEOUT_MS: 30000 },
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: __dirname,
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      moduleNameMapper,
      transform,
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
      setupFilesAfterEnv,
      globals: { PMAPD_TEST_TIMEOUT_MS: 60000 },
    },
  ],
};
