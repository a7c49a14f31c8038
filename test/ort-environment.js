'use strict';
// jest runs each test file in its own V8 context, but onnxruntime-node's
// native binding creates output typed arrays in the main context, and
// onnxruntime-common (loaded inside the test context) rejects them with
// "A float32 tensor's data must be type of function Float32Array"
// (microsoft/onnxruntime#16622). Giving the test context the main context's
// typed-array constructors makes both sides agree (and makes Buffer an
// instanceof Uint8Array again). jest.config.js makes it every test file's
// environment.
const { TestEnvironment } = require('jest-environment-node');

const shared = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of shared) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
