import { ConfigError, loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('fills every default when nothing is set', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      HOST: '0.0.0.0',
      PORT: 8080,
      DEFAULT_MODEL: 'demo',
      DATA_DIR: './data',
      MODELS_DIR: './models',
      LOG_LEVEL: 'info',
      API_KEYS: [],
    });
    expect(c.REDIS_URL).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads and coerces values, treating empty strings as unset', () => {
    const c = loadConfig({
      PORT: '9000',
      REDIS_URL: 'redis://127.0.0.1:6379/2',
      API_KEYS: ' a , b,,',
      LOG_LEVEL: 'debug',
      HOST: '',
    });
    expect(c.PORT).toBe(9000);
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379/2');
    expect(c.API_KEYS).toEqual(['a', 'b']);
    expect(c.HOST).toBe('0.0.0.0');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://localhost'],
    ['LOG_LEVEL', 'loud'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(name);
    expect((error as ConfigError).code).toBe('GIRAFFE_ERR_CONFIG_INVALID');
  });
});
