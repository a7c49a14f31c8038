import { LEGACY_ENTITY_NAMES, NAMED_ENTITIES } from './html-entities';

/**
 * Windows-1252 meaning of the bytes 0x80–0x9F, the way browsers read them
 * (undefined bytes keep their C1 code point). Used both for numeric
 * references such as `&#150;` and for stray C1 control characters.
 */
const WINDOWS_1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** The character a C1 control (U+0080–U+009F) most likely was: its Windows-1252 reading. */
export function windows1252C1(codePoint: number): string {
  return WINDOWS_1252_C1[codePoint - 0x80];
}

/** Code points that the HTML standard says a numeric reference must not produce (they vanish). */
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
  if (n === 0) return '\ufffd';
  if (n === 0x0d) return '\r';
  if (n >= 0x80 && n <= 0x9f) return windows1252C1(n);
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
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
  const withSemicolon = ref.endsWith(';');
  const name = withSemicolon ? ref.slice(0, -1) : ref;
  const char = NAMED_ENTITIES.get(name);
  if (char !== undefined && (withSemicolon || LEGACY_ENTITY_NAMES.has(name))) return char;
  // Legacy names may be followed directly by more text ("&copy2024"): take the longest one.
  for (let len = ref.length - 1; len > 1; len--) {
    const prefix = ref.slice(0, len);
    if (LEGACY_ENTITY_NAMES.has(prefix)) return NAMED_ENTITIES.get(prefix)! + ref.slice(len);
  }
  return '&' + ref;
}

/**
 * Decodes HTML character references the way Python's `html.unescape` does:
 * numeric references (decimal and hex, semicolon optional, with the HTML
 * standard's replacements for invalid ones) and named references, legacy
 * names also without the semicolon.
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF_RE, replaceCharref);
}

// ftfy only decodes well-formed, semicolon-terminated references, to avoid
// false positives such as "this&not that".
const STRICT_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** Entities ftfy also decodes when written in capitals (P&EACUTE;REZ → PÉREZ). */
const UPPERCASE_ENTITIES: ReadonlyMap<string, string> = new Map(
  [...NAMED_ENTITIES]
    .filter(([name]) => name === name.toLowerCase() && !NAMED_ENTITIES.has(name.toUpperCase()))
    .map(([name, char]) => [name.toUpperCase(), char.toUpperCase()] as const),
);

/**
 * The conservative HTML decoding ftfy applies to text that contains no `<`:
 * only `&name;` and `&#...;` forms, plus capitalised names of lower-case
 * entities.
 */
export function unescapeStrictEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(STRICT_ENTITY_RE, (match) => {
    const name = match.slice(1, -1);
    const char = NAMED_ENTITIES.get(name) ?? UPPERCASE_ENTITIES.get(name);
    if (char !== undefined) return char;
    if (name.startsWith('#')) {
      const decoded = htmlUnescape(match);
      // A reference that only partly decoded is not what ftfy wants: keep it.
      return decoded.includes(';') ? match : decoded;
    }
    return match;
  });
}
