/**
 * GPT-2/CLIP's reversible byte → character table for byte-level BPE: printable
 * Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards in
 * byte order, so every byte string becomes a string of visible characters.
 */
export function bytesToUnicode(): string[] {
  const isPrintable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(isPrintable(b) ? b : next++);
  }
  return table;
}
