/**
 * One jest run over every package. Sources are transpiled without type information
 * (`tsc -b` in `pnpm test` does the type-check), and workspace packages resolve to their
 * `src/` so tests never need a build first.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/apps'],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  moduleNameMapper: {
    '^@preroll/server$': '<rootDir>/apps/server/src/index.ts',
    '^@preroll/([a-z]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test-fixtures/jest-summary.js'],
};
