'use strict';
// The one rule for which Redis the tests and benches use, so that a developer's own data
// (db 0 of the Redis they develop against) is never touched: GIRAFFE_TEST_REDIS_URL as given;
// otherwise REDIS_URL (or the local default), in database 15 unless the URL names one.
const { URL } = require('node:url');

/** Database the tests use when the URL names none (Redis has 16 by default: 0–15). */
const TEST_DB = 15;

/**
 * @param {Record<string, string | undefined>} [env]
 * @returns {string}
 */
function testRedisUrl(env = process.env) {
  if (env.GIRAFFE_TEST_REDIS_URL) return env.GIRAFFE_TEST_REDIS_URL;
  const url = new URL(env.REDIS_URL || 'redis://127.0.0.1:6379');
  const namesDb = (url.pathname !== '' && url.pathname !== '/') || url.searchParams.has('db');
  if (!namesDb) url.pathname = `/${TEST_DB}`;
  return url.href;
}

module.exports = { testRedisUrl, TEST_DB };
