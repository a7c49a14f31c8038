export { vaeOutputToRgb } from './vae-output-to-rgb';
export { encodeImage } from './encode-image';
export type { EncodeImageOptions, ImageFormat } from './encode-image';
export { readPngTextChunks } from './png-text-chunk';
export { formatA1111Parameters, parseA1111Parameters } from './a1111-parameters';
export type { A1111Parameters, ParsedA1111Parameters } from './a1111-parameters';
