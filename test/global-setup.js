'use strict';
// Runs once before the suite: the queue, API, fault and soak tests need a real Redis, and a
// newcomer without one should read why in one line instead of a wall of connection errors.
const net = require('node:net');
const { URL } = require('node:url');
const { testRedisUrl } = require('./redis-url');

const useSoftwareGpu = require('./software-gpu-setup.js');

const url = new URL(testRedisUrl());

module.exports = async function requireRedis() {
  useSoftwareGpu();
  const port = Number(url.port) || 6379;
  const reachable = await new Promise((resolve) => {
    const socket = net.connect(port, url.hostname);
    socket.setTimeout(2000, () => (socket.destroy(), resolve(false)));
    socket.on('connect', () => (socket.end(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
  if (!reachable) {
    throw new Error(
      `the tests need Redis at ${url.href}: start one with ` +
        '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""` (.ci/run does), ' +
        'or point GIRAFFE_TEST_REDIS_URL (or REDIS_URL; the tests use its db 15 unless it names one) at one',
    );
  }
};
