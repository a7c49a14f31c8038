/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/ort-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.check.json' }],
    // cookie 2 (under fastify's inject) ships ES modules only; jest's CommonJS runtime needs them compiled.
    '/node_modules/cookie/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  // Inference tests spawn worker threads and ONNX sessions; two cores here.
  maxWorkers: 2,
  // Measured: at the end of a full run both workers reach process 'exit' within 10 ms of jest's
  // request (no handle left open), then spend over 500 ms in native teardown of what they loaded
  // (onnxruntime, Dawn on SwiftShader, libvips), so jest's default 500 ms reported a forced exit.
  workerGracefulExitTimeout: 5000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  // Fails the run at once, with the command to fix it, when Redis is not answering.
  globalSetup: '<rootDir>/test/global-setup.js',
  // The tests' own Redis database, and no inherited REDIS_URL reaching the processes they start.
  setupFiles: ['<rootDir>/test/setup-env.js'],
  testTimeout: 60000,
};
