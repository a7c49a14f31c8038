import { fixText } from '../../../src/pipeline/tokenizer/fix-text';
import { htmlUnescape } from '../../../src/pipeline/tokenizer/html-unescape';
import { cleanClipText } from '../../../src/pipeline/tokenizer/text-cleanup';

// Expected values are ftfy 6.3's and Python 3.11's own documented results
// (ftfy tests/test_entities.py and the docstrings in ftfy/fixes.py; the
// examples of the `html` module's documentation), not ours.

describe('fixText (ftfy subset)', () => {
  it.each([
    ['&amp;\n<html>\n&amp;', '&\n<html>\n&amp;'],
    ['&lt;&gt;', '<>'],
    ['&amp;amp;amp;', '&'],
    ['broken&#x81;', 'broken\x81'],
    ['euro &#x80;', 'euro €'],
    ['EURO &EURO;', 'EURO €'],
    ['V&SCARON;ICHNI', 'VŠICHNI'],
    ['not an entity &#20x6;', 'not an entity &#20x6;'],
    ['&#xffff;', ''],
    ['&#xffffffff;', '\ufffd'],
    ['this is just informal english &not html', 'this is just informal english &not html'],
    ['Broken text&hellip; it&#x2019;s ﬂubberiﬁc!', "Broken text\u2026 it's flubberific!"],
    ['ＬＯＵＤ\u3000ＮＯＩＳＥＳ', 'LOUD NOISES'],
    ['ｳﾀｰﾝ', 'ウターン'],
    ['\u201chere\u2019s a test\u201d', '"here\'s a test"'],
    ["\u001b[36;44mI'm blue, da ba dee da ba doo...\u001b[0m", "I'm blue, da ba dee da ba doo..."],
    [
      'This string is made of two things:\u20291. Unicode\u20282. Spite',
      'This string is made of two things:\n1. Unicode\n2. Spite',
    ],
    ['Content-type: text/plain\r\n\r\nHi.', 'Content-type: text/plain\n\nHi.'],
    ['\ufeffWhere do you want to go today?', 'Where do you want to go today?'],
    ['cafe\u0301', 'café'],
    // HTML5 names too, and their upper-cased spelling (ftfy's chardata builds its table from html5).
    ['&check; &CHECK; &STARF;', '\u2713 \u2713 \u2605'],
  ])('%j → %j', (input, expected) => {
    expect(fixText(input)).toBe(expected);
  });
});

describe('htmlUnescape (Python html.unescape)', () => {
  it.each([
    ['&amp;lt;', '&lt;'],
    ['&gt;&#62;&#x3e;', '>>>'],
    ['&copy2024 &amp', '©2024 &'],
    ['&nosuch; &', '&nosuch; &'],
    ['&#150;', '\u2013'],
    ['&#0;', '\ufffd'],
    ['&#x110000;', '\ufffd'],
    ['&#1;', ''],
    ['&apos;&quot;', '\'"'],
  ])('%j → %j', (input, expected) => {
    expect(htmlUnescape(input)).toBe(expected);
  });

  // HTML5 names, which openai/CLIP's clean-up decodes (the goldens' recipe:
  // ftfy.fix_text, then html.unescape twice). Each expected value is what
  // CPython 3.11's html.unescape returned for the input.
  it.each([
    ['&check;', '\u2713'],
    ['&checkmark;', '\u2713'],
    ['&star;&starf;', '\u2606\u2605'],
    ['&hearts;&heartsuit;', '\u2665\u2665'],
    ['&approx;&ap;', '\u2248\u2248'],
    ['&Lt;', '\u226a'],
    ['&smashp;', '\u2a33'],
    ['&fjlig;', 'fj'],
    ['&bne;', '=\u20e5'],
    ['&nGt;', '\u226b\u20d2'],
    ['&ThickSpace;', '\u205f\u200a'],
    ['&NewLine;&Tab;', '\n\t'],
    ['&NotGreaterFullEquality;', '&NotGreaterFullEquality;'],
    ['&CHECK;', '&CHECK;'],
    ['&notit;', '\u00acit;'],
    ['&notin;', '\u2209'],
    ['&ampx;', '&x;'],
    ['&aacutex', '\u00e1x'],
    ['&Aacute', '\u00c1'],
    ['&QUOT&quot', '""'],
    ['&gt5 &LTx &lt', '>5 <x <'],
    ['&#128512;&#x1F600', '\u{1f600}\u{1f600}'],
    ['&#65;&#x42', 'AB'],
    ['&#8364', '\u20ac'],
    ['&#xD800;', '\ufffd'],
    ['&#xfdd0;&#x7f;', ''],
    ['&#13;', '\r'],
  ])('HTML5: %j → %j', (input, expected) => {
    expect(htmlUnescape(input)).toBe(expected);
  });
});

describe('cleanClipText', () => {
  it('fixes, unescapes twice, collapses whitespace and lower-cases', () => {
    expect(cleanClipText('  Salt &amp;amp; PEPPER\u00a0\u00a0 &lt;3\n')).toBe('salt & pepper <3');
  });

  it('decodes HTML5 entities the way openai/CLIP does (html.unescape twice)', () => {
    expect(cleanClipText('A &check; and a &star; &amp;check;')).toBe('a \u2713 and a \u2606 \u2713');
  });

  it('maps stray C1 controls through Windows-1252 and collapses line separators', () => {
    expect(cleanClipText('A\u0085B')).toBe('a\u2026b');
    expect(cleanClipText('a\u2028\u3000b')).toBe('a b');
  });
});
