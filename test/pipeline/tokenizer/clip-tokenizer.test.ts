import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ClipTokenizer, cleanClipText, TokenizerLoadError } from '../../../src/pipeline/tokenizer';
import { describeWithShared, readSharedJson, sharedPath } from '../../helpers/shared';

interface TokenGolden {
  category: string;
  text: string;
  cleaned_text: string;
  ids: number[];
  ids_77_sd1_pad_eot: number[];
  ids_77_sd2_pad_bang: number[];
  truncated: boolean;
}

interface TokenGoldens {
  doc: string;
  special: { sot: number; eot: number; sd1_pad: number; sd2_pad: number; max_length: number };
  prompts: TokenGolden[];
}

const VOCAB = ['clip-tokenizer', 'vocab.json'];
const MERGES = ['clip-tokenizer', 'merges.txt'];

function sharedTokenizer(options?: { padTokenId?: number }): ClipTokenizer {
  return ClipTokenizer.fromFiles(sharedPath(...VOCAB), sharedPath(...MERGES), options);
}

// Jest collects the tests of a skipped describe too, so golden data that feeds
// `it.each` is read only when present (the describe then reports the skip).
const GOLDENS = ['goldens', 'clip_tokens.json'];
const goldens = fs.existsSync(sharedPath(...GOLDENS)) ? readSharedJson<TokenGoldens>(...GOLDENS) : undefined;

describeWithShared(VOCAB, 'ClipTokenizer with the CLIP vocabulary', () => {
  let tokenizer: ClipTokenizer;
  beforeAll(() => {
    tokenizer = sharedTokenizer();
  });

  it('encodes the canonical prompt', () => {
    expect(tokenizer.encode('a photo of a cat')).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
  });

  it('exposes the special ids and vocabulary size', () => {
    expect(tokenizer.bosTokenId).toBe(49406);
    expect(tokenizer.eosTokenId).toBe(49407);
    expect(tokenizer.padTokenId).toBe(49407);
    expect(tokenizer.vocabSize).toBe(49408);
  });

  it('truncates a very long prompt to 77 ids with the end token last', () => {
    const ids = tokenizer.encodeForModel(Array.from({ length: 300 }, (_, i) => `word${i}`).join(' '));
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(49406);
    expect(ids[76]).toBe(49407);
    expect(ids.slice(1, 76).every((id) => id !== 49407 && id !== 49406)).toBe(true);
  });

  it('honours a custom maxLength', () => {
    expect(Array.from(tokenizer.encodeForModel('a photo of a cat', 5))).toEqual([
      49406, 320, 1125, 539, 49407,
    ]);
    expect(() => tokenizer.encodeForModel('a cat', 1)).toThrow(RangeError);
  });
});

// Every golden prompt is compared on its raw text: the ftfy subset we
// implement (curly quotes, NFC, HTML entities, line breaks) covers all 21,
// so none needs the documented fallback of tokenising `cleaned_text`.
describeWithShared(GOLDENS, 'ClipTokenizer against openai/CLIP goldens', () => {
  const prompts = goldens?.prompts ?? [];
  const cases =
    prompts.length > 0
      ? prompts.map((p) => [JSON.stringify(p.text), p] as const)
      : [['', {} as TokenGolden] as const];
  let sd1: ClipTokenizer;
  let sd2: ClipTokenizer;
  beforeAll(() => {
    sd1 = sharedTokenizer();
    sd2 = sharedTokenizer({ padTokenId: goldens!.special.sd2_pad });
  });

  it('has prompts to compare', () => {
    expect(prompts.length).toBeGreaterThanOrEqual(20);
    expect(prompts.some((p) => p.truncated)).toBe(true);
  });

  it.each(cases)('%s: cleans the text like openai/CLIP', (_name, p) => {
    expect(cleanClipText(p.text)).toBe(p.cleaned_text);
  });

  it.each(cases)('%s: ids match', (_name, p) => {
    expect(sd1.encode(p.text)).toEqual(p.ids);
    // The cleaned text must tokenise the same (clean-up is idempotent on it).
    expect(sd1.encode(p.cleaned_text)).toEqual(p.ids);
  });

  it.each(cases)('%s: 77-token SD1 input (pad <|endoftext|>) matches', (_name, p) => {
    expect(Array.from(sd1.encodeForModel(p.text))).toEqual(p.ids_77_sd1_pad_eot);
  });

  it.each(cases)('%s: 77-token SD2 input (pad "!") matches', (_name, p) => {
    expect(Array.from(sd2.encodeForModel(p.text))).toEqual(p.ids_77_sd2_pad_bang);
  });

  it('keeps the end token at index 76 for the truncated golden', () => {
    const long = prompts.find((p) => p.truncated)!;
    const ids = sd1.encodeForModel(long.text);
    expect(ids[76]).toBe(goldens!.special.eot);
    expect(long.ids.length).toBeGreaterThan(77);
  });
});

describe('ClipTokenizer.fromModelDir', () => {
  const tempDirs: string[] = [];
  afterAll(() => {
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A temp tokenizer folder linking the shared vocabulary (nothing copied into the repo). */
  function tempTokenizerDir(files: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-tokenizer-'));
    tempDirs.push(dir);
    fs.symlinkSync(sharedPath(...VOCAB), path.join(dir, 'vocab.json'));
    fs.symlinkSync(sharedPath(...MERGES), path.join(dir, 'merges.txt'));
    for (const [name, content] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  }

  describeWithShared(['goldens', 'e2e', 'model', 'tokenizer', 'vocab.json'], 'SD1.x layout', () => {
    it('pads with <|endoftext|> and reads model_max_length', () => {
      const tokenizer = ClipTokenizer.fromModelDir(sharedPath('goldens', 'e2e', 'model', 'tokenizer'));
      expect(tokenizer.padTokenId).toBe(49407);
      expect(tokenizer.maxLength).toBe(77);
      const golden = readSharedJson<TokenGoldens>(...GOLDENS).prompts[0];
      expect(Array.from(tokenizer.encodeForModel(golden.text))).toEqual(golden.ids_77_sd1_pad_eot);
    });
  });

  describeWithShared(VOCAB, 'config variants', () => {
    it('pads with "!" (id 0) when tokenizer_config says so (SD2.x)', () => {
      const dir = tempTokenizerDir({ 'tokenizer_config.json': { pad_token: '!', model_max_length: 77 } });
      const tokenizer = ClipTokenizer.fromModelDir(dir);
      expect(tokenizer.padTokenId).toBe(0);
      const ids = tokenizer.encodeForModel('a photo of a cat');
      expect(Array.from(ids.slice(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
      expect(ids.slice(7).every((id) => id === 0)).toBe(true);
    });

    it('reads an AddedToken-style pad_token from special_tokens_map.json', () => {
      const dir = tempTokenizerDir({
        'special_tokens_map.json': { pad_token: { content: '!', lstrip: false } },
      });
      expect(ClipTokenizer.fromModelDir(dir).padTokenId).toBe(0);
    });

    it('defaults to <|endoftext|> and 77 without config files', () => {
      const tokenizer = ClipTokenizer.fromModelDir(tempTokenizerDir({}));
      expect(tokenizer.padTokenId).toBe(49407);
      expect(tokenizer.maxLength).toBe(77);
    });

    it("ignores Hugging Face's 'unset' model_max_length sentinel", () => {
      const dir = tempTokenizerDir({ 'tokenizer_config.json': { model_max_length: 1e30 } });
      expect(ClipTokenizer.fromModelDir(dir).maxLength).toBe(77);
    });

    it('names a broken config file', () => {
      const dir = tempTokenizerDir({ 'tokenizer_config.json': '{ not json' });
      expect(() => ClipTokenizer.fromModelDir(dir)).toThrow(TokenizerLoadError);
      expect(() => ClipTokenizer.fromModelDir(dir)).toThrow(path.join(dir, 'tokenizer_config.json'));
    });

    it('names an unknown pad token', () => {
      const dir = tempTokenizerDir({ 'tokenizer_config.json': { pad_token: '<pad>' } });
      expect(() => ClipTokenizer.fromModelDir(dir)).toThrow(/tokenizer_config\.json.*<pad>/);
    });
  });

  it('names a missing vocab.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-tokenizer-'));
    tempDirs.push(dir);
    expect(() => ClipTokenizer.fromModelDir(dir)).toThrow(path.join(dir, 'vocab.json'));
  });

  it('names a malformed merges.txt', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-tokenizer-'));
    tempDirs.push(dir);
    fs.writeFileSync(
      path.join(dir, 'vocab.json'),
      JSON.stringify({ a: 0, '<|startoftext|>': 1, '<|endoftext|>': 2 }),
    );
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\na b c\n');
    expect(() => ClipTokenizer.fromModelDir(dir)).toThrow(/merges\.txt: line 2/);
  });
});
