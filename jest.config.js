/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  transform: {
    // Type-checking is `npm run build`; tests only transpile, which keeps them fast.
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
  },
  // @middy/core ships ES modules only; let ts-jest turn it into CommonJS for jest.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  // Synthesizing the stack runs esbuild; give infra tests room on a busy 2-core machine.
  testTimeout: 60_000,
};
