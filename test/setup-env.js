'use strict';
// Runs in every test file before its modules load. The tests' Redis is settled once here
// (test/redis-url.js) and handed on as GIRAFFE_TEST_REDIS_URL; a REDIS_URL or REDIS_PREFIX the
// developer exported for their own service is removed, so that no `giraffe` process a test
// starts with this environment reaches their data.
const { testRedisUrl } = require('./redis-url');

process.env.GIRAFFE_TEST_REDIS_URL = testRedisUrl();
delete process.env.REDIS_URL;
delete process.env.REDIS_PREFIX;
