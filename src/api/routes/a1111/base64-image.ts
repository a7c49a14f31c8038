import { GiraffeError } from '../../../errors';

/** Image files A1111 clients send, told apart by their first bytes. */
export type ImageKind = 'png' | 'jpeg' | 'webp';

function kindOf(bytes: Buffer): ImageKind | undefined {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a)
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WEBP'
  )
    return 'webp';
  return undefined;
}

/**
 * Decodes an image as A1111 clients send one: plain base64 (open-webui,
 * SillyTavern) or a `data:image/…;base64,` URL (webuiapi's `b64_img`), as
 * A1111's `decode_base64_to_image` accepts both. Refuses anything that is
 * not a PNG, JPEG or WebP file (URLs included: A1111 fetches those only when
 * a setting allows it, and the API process makes no outbound requests).
 */
export function decodeBase64Image(text: string, field: string): { bytes: Buffer; kind: ImageKind } {
  const fail = (why: string): never => {
    throw new GiraffeError('GIRAFFE_ERR_SDAPI_IMAGE_INVALID', `${field}: ${why}`, { field });
  };
  let payload = text.trim();
  if (payload.startsWith('data:')) {
    const comma = payload.indexOf(',');
    if (comma === -1 || !/;base64$/i.test(payload.slice(0, comma))) fail('a data: URL must be base64');
    payload = payload.slice(comma + 1);
  } else if (/^https?:\/\//i.test(payload)) {
    fail('image URLs are not fetched; send the file as base64');
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload.replace(/\s+/g, ''))) fail('is not base64');
  const bytes = Buffer.from(payload, 'base64');
  const kind = kindOf(bytes);
  if (!kind) return fail('is not a PNG, JPEG or WebP file');
  return { bytes, kind };
}
