import { isArrayBuffer } from 'node:util/types';

/**
 * The images' memory, handed to the main thread rather than copied: an
 * encoded 512×512 PNG is most of a megabyte. Only buffers that own their
 * whole ArrayBuffer move; a pooled or shared one is copied as before.
 */
export function ownedBuffers(images: readonly Buffer[]): ArrayBuffer[] {
  const owned = new Set<ArrayBuffer>();
  for (const { buffer, byteOffset, byteLength } of images) {
    // isArrayBuffer, not instanceof: it also holds for memory made in another realm, and it
    // leaves out a SharedArrayBuffer, which cannot be transferred.
    if (byteOffset === 0 && byteLength === buffer.byteLength && isArrayBuffer(buffer)) owned.add(buffer);
  }
  return [...owned];
}
