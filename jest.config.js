// Two projects: fast pure unit specs beside the code, and e2e specs over HTTP against a real
// database (the embedded PostgreSQL started once in globalSetup, or DATABASE_URL).
const transform = { '^.+\\.(t|j)s$': ['@swc/jest'] };
// NestJS 12 and some of @fastify/static's dependencies ship ES modules only: swc turns
// them into CommonJS for jest (judged by the innermost node_modules of a path).
const transformIgnorePatterns = [
  '/node_modules/(?!.*/node_modules/)(?!(@nestjs|@sparticuz|file-type|load-esm|jose|filtrex|standardwebhooks|content-disposition|glob|minimatch|path-scurry|lru-cache|minipass|jackspeak|foreground-child|package-json-from-dist|@isaacs|balanced-match|brace-expansion)/)',
];
module.exports = {
  // A guard against hangs, not a speed check: on a loaded 2-core machine a 10,000-record export,
  // or an app's start in a beforeAll, took longer than jest's default 5 s. (Read at the top level
  // only: a project's own testTimeout is ignored.) Specs that need longer still set their own.
  testTimeout: 30_000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/bench/**/*.spec.ts'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/suite-database.ts'],
    },
  ],
};
