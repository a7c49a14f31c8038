import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { GiraffeError } from '../errors';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The JSON body parser: bytes that are not valid UTF-8 are a malformed
 * request (Fastify's default would silently turn them into U+FFFD and run the
 * job), and `__proto__`/`constructor.prototype` keys are refused, not merged.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      done(new GiraffeError('GIRAFFE_ERR_REQUEST_MALFORMED', 'the body is not valid UTF-8'), undefined);
      return;
    }
    if (text.trim().length === 0) {
      done(
        new GiraffeError('GIRAFFE_ERR_REQUEST_MALFORMED', 'the body is empty; send a JSON object'),
        undefined,
      );
      return;
    }
    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const detail = (err as Error).message.includes('prototype')
        ? 'the body may not set __proto__ or constructor.prototype'
        : `the body is not valid JSON (${(err as Error).message})`;
      done(new GiraffeError('GIRAFFE_ERR_REQUEST_MALFORMED', detail), undefined);
    }
  });
}
