import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorCatalogue, GiraffeError } from '../src/errors';

// Every catalogued code is documented with its status and retry behaviour,
// and the documentation names no code that does not exist.
const doc = fs.readFileSync(path.resolve(__dirname, '..', 'docs', 'errors.md'), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\|\s*`(GIRAFFE_ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|/gm)].map((m) => [
    m[1],
    { status: Number(m[2]), retryable: m[3] === 'yes' },
  ]),
);

it.each(Object.entries(errorCatalogue))('%s is documented as it behaves', (code, spec) => {
  expect(rows.get(code)).toEqual({ status: spec.status, retryable: spec.retryable });
});

it('documents no code outside the catalogue', () => {
  expect([...rows.keys()].filter((code) => !(code in errorCatalogue))).toEqual([]);
});

it('survives a trip through JSON, as errors crossing threads and processes do', () => {
  const err = new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', 'width: must be a multiple of 8', {
    field: 'width',
  });
  const back = GiraffeError.fromJSON(JSON.parse(JSON.stringify(err)));
  expect(back).toBeInstanceOf(GiraffeError);
  expect(back).toMatchObject({
    code: err.code,
    status: 400,
    retryable: false,
    message: err.message,
    details: { field: 'width' },
  });
});
