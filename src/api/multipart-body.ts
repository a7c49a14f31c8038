import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { GiraffeError } from '../errors';

/** How a route's multipart fields map onto its JSON body. */
export interface MultipartFields {
  /** File parts the route takes (at most one each); their bytes become Buffers. */
  readonly files: readonly string[];
  /** Text fields that stay strings; the others are read as JSON (`7.5`, `true`, `42`) when they parse. */
  readonly strings: ReadonlySet<string>;
  /** Fields that are arrays: each part of the name is one item (`-F webhook_events=started -F …`). */
  readonly arrays?: ReadonlySet<string>;
  /** Field names that mean another (OpenAI's SDK may send `image[]`). */
  readonly aliases?: Readonly<Record<string, string>>;
}

/**
 * Lets the routes of `scope` take `multipart/form-data` as well as JSON: the
 * parts are read into the same body object the JSON route would get (file
 * parts as Buffers, text parts coerced to their JSON types), before the
 * route's schema validates it. Only this scope is affected. Every multipart
 * failure is a 4xx: a file over `maxFileBytes` is
 * GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE, too many parts is
 * GIRAFFE_ERR_REQUEST_TOO_LARGE, and a broken form is GIRAFFE_ERR_REQUEST_MALFORMED.
 */
export async function acceptMultipart(
  scope: FastifyInstance,
  fields: MultipartFields,
  maxFileBytes: number,
): Promise<void> {
  await scope.register(multipart, {
    limits: {
      fileSize: maxFileBytes,
      files: fields.files.length,
      fields: 64,
      parts: 64 + fields.files.length,
      // A text part may carry an image as base64.
      fieldSize: Math.ceil((maxFileBytes * 4) / 3) + 1024,
      headerPairs: 64,
    },
  });
  const fileNames = new Set(fields.files);
  scope.addHook('preValidation', async (request) => {
    if (!request.isMultipart()) return;
    const body: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    let current = '';
    try {
      for await (const part of request.parts()) {
        const name = fields.aliases?.[part.fieldname] ?? part.fieldname;
        current = name;
        if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
          throw new GiraffeError('GIRAFFE_ERR_REQUEST_MALFORMED', `${name}: not allowed as a field name`);
        }
        if (part.type === 'file') {
          if (!fileNames.has(name)) {
            await part.toBuffer().catch(() => undefined);
            throw new GiraffeError(
              'GIRAFFE_ERR_REQUEST_INVALID',
              `${name}: not a file field here (file fields: ${fields.files.join(', ')})`,
              { field: name },
            );
          }
          if (name in body) {
            throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${name}: sent twice; send one file`, {
              field: name,
            });
          }
          body[name] = await part.toBuffer();
          continue;
        }
        if (part.valueTruncated) {
          throw new GiraffeError('GIRAFFE_ERR_REQUEST_TOO_LARGE', `${name}: the text part is too long`, {
            field: name,
          });
        }
        const raw = String(part.value);
        const value = fields.strings.has(name) || fileNames.has(name) ? raw : coerce(raw);
        if (fields.arrays?.has(name)) {
          const items = (body[name] as unknown[] | undefined) ?? [];
          body[name] = [...items, ...(Array.isArray(value) ? value : [value])];
        } else if (name in body) {
          throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${name}: sent twice`, { field: name });
        } else {
          body[name] = value;
        }
      }
    } catch (err) {
      throw multipartError(err, current, maxFileBytes);
    }
    request.body = { ...body };
  });
}

/** A text part as the JSON value it spells (`20` → 20, `true` → true), or the text itself. */
function coerce(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return text;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}

function multipartError(err: unknown, field: string, maxFileBytes: number): GiraffeError {
  if (err instanceof GiraffeError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') {
    return new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
      `${field}: the file is larger than MAX_INPUT_IMAGE_BYTES (${maxFileBytes})`,
      { field },
    );
  }
  if (code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return new GiraffeError('GIRAFFE_ERR_REQUEST_TOO_LARGE', `the form has too many parts (${String(code)})`);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new GiraffeError('GIRAFFE_ERR_REQUEST_MALFORMED', `the multipart body is malformed: ${message}`);
}
