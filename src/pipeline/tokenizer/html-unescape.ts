import { DecodingMode, decodeHTML, fromCodePoint, replaceCodePoint } from 'entities/decode';

/**
 * The character a C1 control (U+0080–U+009F) most likely was: its Windows-1252
 * reading, as the HTML standard gives it (undefined bytes keep their C1 code
 * point). Used both for numeric references such as `&#150;` and for stray C1
 * control characters.
 */
export function windows1252C1(codePoint: number): string {
  return fromCodePoint(replaceCodePoint(codePoint));
}

/**
 * Code points that Python's `html.unescape` drops from a numeric reference
 * (they vanish) — stricter than a browser, which keeps them.
 */
function isDroppedCodePoint(n: number): boolean {
  return (
    (n >= 0x01 && n <= 0x08) ||
    n === 0x0b ||
    (n >= 0x0e && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) ||
    (n & 0xfffe) === 0xfffe
  );
}

function decodeNumericReference(digits: string, radix: 10 | 16): string {
  const n = parseInt(digits, radix);
  if (n === 0x0d) return '\r';
  // NUL, surrogates, values past U+10FFFF (U+FFFD) and the C1 range (Windows-1252).
  if (n === 0 || (n >= 0x80 && n <= 0x9f) || (n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) {
    return windows1252C1(n > 0x10ffff ? 0x110000 : n);
  }
  if (isDroppedCodePoint(n)) return '';
  return String.fromCodePoint(n);
}

// Same token shape as the HTML standard's tokenizer (and Python's html module).
const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

function replaceCharref(_match: string, ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
    return decodeNumericReference(digits, hex ? 16 : 10);
  }
  // A named reference: the HTML5 table (entities), with the text-content rule
  // Python follows too — legacy names also without `;`, the longest one
  // winning ("&copy2024" → "©2024", "&notit;" → "¬it;").
  return decodeHTML('&' + ref, DecodingMode.Legacy);
}

/**
 * Decodes HTML character references the way Python's `html.unescape` does:
 * numeric references (decimal and hex, semicolon optional, with the HTML
 * standard's replacements for invalid ones and Python's dropped code points)
 * and the HTML5 named references, legacy names also without the semicolon.
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF_RE, replaceCharref);
}

/** `&name;` when it is one of the HTML5 names, else undefined. */
function namedEntity(name: string): string | undefined {
  const ref = `&${name};`;
  // Strict mode decodes only a whole, semicolon-terminated name.
  const decoded = decodeHTML(ref, DecodingMode.Strict);
  return decoded === ref ? undefined : decoded;
}

/**
 * ftfy also decodes an upper-cased lower-case entity name (P&EACUTE;REZ →
 * PÉREZ), to the upper-case character, unless `html.unescape` already gives
 * the upper-case spelling a meaning of its own.
 */
function uppercasedEntity(name: string): string | undefined {
  if (name !== name.toUpperCase()) return undefined;
  const lower = name.toLowerCase();
  if (lower === name) return undefined;
  const char = namedEntity(lower);
  if (char === undefined) return undefined;
  const ref = `&${name};`;
  return htmlUnescape(ref) === ref ? char.toUpperCase() : undefined;
}

// ftfy only decodes well-formed, semicolon-terminated references, to avoid
// false positives such as "this&not that".
const STRICT_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/**
 * The conservative HTML decoding ftfy applies to text that contains no `<`:
 * only `&name;` and `&#...;` forms, plus capitalised names of lower-case
 * entities.
 */
export function unescapeStrictEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(STRICT_ENTITY_RE, (match) => {
    const name = match.slice(1, -1);
    if (name.startsWith('#')) {
      const decoded = htmlUnescape(match);
      // A reference that only partly decoded is not what ftfy wants: keep it.
      return decoded.includes(';') ? match : decoded;
    }
    return namedEntity(name) ?? uppercasedEntity(name) ?? match;
  });
}
