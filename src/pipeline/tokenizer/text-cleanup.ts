import { fixText } from './fix-text';
import { htmlUnescape } from './html-unescape';

/**
 * Python's `str.isspace` set, which is what CLIP's `strip()` and `\s+` see.
 * Unlike JavaScript's `\s` it includes U+001C–U+001F and U+0085 and excludes
 * U+FEFF.
 */
export const PY_WHITESPACE =
  '\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const WHITESPACE_RUN_RE = new RegExp(`[${PY_WHITESPACE}]+`, 'g');
const EDGE_WHITESPACE_RE = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'g');

function pyStrip(text: string): string {
  return text.replace(EDGE_WHITESPACE_RE, '');
}

/**
 * openai/CLIP's prompt clean-up: fix the text (ftfy subset), unescape HTML
 * twice, strip, collapse whitespace runs to one space, lower-case.
 */
export function cleanClipText(text: string): string {
  const basic = pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
  return pyStrip(basic.replace(WHITESPACE_RUN_RE, ' ')).toLowerCase();
}
