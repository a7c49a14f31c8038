'use strict';
/* global fetch, AbortSignal -- Node.js 20 globals */
// Docker HEALTHCHECK of giraffe's images: exit 0 when healthy, 1 when not.
//
// `serve` (the API): GET /healthz on this container's PORT answers 200.
// `worker`: the worker's heartbeat in Redis (the registry GET /readyz reads)
// names this container's host name, so it is alive and its event loop turns.
//
// The role is the first argument, or else read from PID 1's command line
// (tini -- entrypoint.sh ROLE …), so the image's one HEALTHCHECK fits both.
const fs = require('node:fs');
const os = require('node:os');

function role() {
  if (process.argv[2]) return process.argv[2];
  try {
    const args = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0');
    return args.includes('worker') ? 'worker' : 'serve';
  } catch {
    return 'serve';
  }
}

async function checkApi() {
  const port = Number(process.env.PORT || 8080);
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`/healthz answered ${response.status}`);
}

async function checkWorker() {
  const { loadConfig } = require('../dist/config');
  const { createQueueDriver } = require('../dist/queue');
  const config = loadConfig();
  if (!config.REDIS_URL) throw new Error('a worker needs REDIS_URL');
  const driver = createQueueDriver({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX });
  try {
    const workers = await driver.workers.list();
    if (!workers.some((w) => w.host === os.hostname())) {
      throw new Error(`no live worker of host ${os.hostname()} in Redis`);
    }
  } finally {
    await driver.close();
  }
}

// Ends on its own once the check settles (the fetch aborts after 5 s, the Redis calls time out
// after 5 s); Docker's HEALTHCHECK --timeout bounds it from outside.
(role() === 'worker' ? checkWorker() : checkApi()).then(
  () => {
    process.exitCode = 0;
  },
  (err) => {
    console.error(`unhealthy: ${err && err.message ? err.message : err}`);
    process.exitCode = 1;
  },
);
