import { isArrayBuffer } from 'node:util/types';

/**
 * The memory of arrays handed to another thread, to move rather than copy:
 * a 512×512 image's VAE output is 3 MiB. Only arrays that own their whole
 * ArrayBuffer move; a view into a pooled or shared one is copied as before.
 */
export function ownedBuffers(arrays: readonly ArrayBufferView[]): ArrayBuffer[] {
  const owned = new Set<ArrayBuffer>();
  for (const { buffer, byteOffset, byteLength } of arrays) {
    // isArrayBuffer, not instanceof: it also holds for memory made in another realm, and it
    // leaves out a SharedArrayBuffer, which cannot be transferred.
    if (byteOffset === 0 && byteLength === buffer.byteLength && isArrayBuffer(buffer)) owned.add(buffer);
  }
  return [...owned];
}
