/** Database the tests use when the URL names none. */
export declare const TEST_DB: number;
/** GIRAFFE_TEST_REDIS_URL as given; otherwise REDIS_URL (or the local default) in db 15 unless it names a db. */
export declare function testRedisUrl(env?: Record<string, string | undefined>): string;
