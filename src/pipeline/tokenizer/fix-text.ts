import { unescapeStrictEntities, windows1252C1 } from './html-unescape';

// The cheap, deterministic part of ftfy's default `fix_text` (ftfy 6.3), in
// ftfy's order. Left out: mojibake detection and repair (`fix_encoding`,
// `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`),
// which needs ftfy's statistical "badness" heuristics.

const C1_CONTROL_RE = /[\u0080-\u009f]/g;

/** Latin ligatures and legacy digraphs that ftfy splits (æ and friends stay). */
const LIGATURES: Readonly<Record<string, string>> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u0149': '\u02bcn',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\u01c4': 'D\u017d',
  '\u01c5': 'D\u017e',
  '\u01c6': 'd\u017e',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');

// Fullwidth/halfwidth forms take their NFKC (standard-width) form; the
// ideographic space becomes a plain space, which is also its NFKC form.
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const LINE_BREAK_RE = /\r\n|[\r\u2028\u2029\u0085]/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const TERMINAL_ESCAPE_RE = /\u001b\[[\d;]*[a-zA-Z]/g;
// ASCII controls other than tab, LF, FF and CR; deprecated Arabic format
// controls; the byte-order mark; interlinear annotations and U+FFFC.
// eslint-disable-next-line no-control-regex -- these controls are what we remove
const CONTROL_CHAR_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixSegmentOnce(text: string, unescapeHtml: boolean): string {
  let t = unescapeHtml ? unescapeStrictEntities(text) : text;
  t = t.replace(C1_CONTROL_RE, (c) => windows1252C1(c.charCodeAt(0)));
  t = t.replace(LIGATURE_RE, (c) => LIGATURES[c]);
  t = t.replace(WIDTH_RE, (c) => c.normalize('NFKC'));
  t = t.replace(DOUBLE_QUOTE_RE, '"').replace(SINGLE_QUOTE_RE, "'");
  t = t.replace(LINE_BREAK_RE, '\n');
  t = t.replace(LONE_SURROGATE_RE, '\ufffd');
  t = t.replace(TERMINAL_ESCAPE_RE, '');
  t = t.replace(CONTROL_CHAR_RE, '');
  return t.normalize('NFC');
}

function fixSegment(segment: string, unescapeHtml: boolean): string {
  // ftfy repeats its fixes until the text stops changing ("&amp;amp;" → "&").
  let text = segment;
  for (;;) {
    const fixed = fixSegmentOnce(text, unescapeHtml);
    if (fixed === text) return fixed;
    text = fixed;
  }
}

/**
 * A subset of ftfy's `fix_text` with default settings: decodes HTML entities
 * (only while no `<` has been seen, as ftfy's "auto" mode), maps stray C1
 * controls through Windows-1252, splits Latin ligatures, narrows fullwidth
 * forms, straightens curly quotes, unifies line breaks, replaces lone
 * surrogates, strips terminal escapes and control characters, and applies
 * NFC. Mojibake repair is not attempted.
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  let out = '';
  // ftfy works line by line; once a line contains '<' the text is taken for
  // HTML and entities are left alone from there on.
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    if (segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
    pos = end;
  }
  return out;
}
