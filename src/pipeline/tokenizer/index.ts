export { ClipTokenizer, TokenizerLoadError } from './clip-tokenizer';
export type { ClipTokenizerOptions } from './clip-tokenizer';
export { cleanClipText } from './text-cleanup';
