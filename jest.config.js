/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.check.json', isolatedModules: true }],
  },
  // Inference tests spawn worker threads and ONNX sessions; two cores here.
  maxWorkers: 2,
  testTimeout: 60000,
};
