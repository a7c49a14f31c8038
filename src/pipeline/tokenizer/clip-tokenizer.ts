import * as fs from 'node:fs';
import * as path from 'node:path';

import { bytesToUnicode } from './bytes-to-unicode';
import { cleanClipText, PY_WHITESPACE } from './text-cleanup';

const START_OF_TEXT = '<|startoftext|>';
const END_OF_TEXT = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** CLIP's text encoders have 77 positions. */
const DEFAULT_MAX_LENGTH = 77;
/** Beyond this a `model_max_length` is Hugging Face's "unset" sentinel (1e30), not a real limit. */
const MAX_SANE_MODEL_LENGTH = 1 << 20;
/** Words are short; the cap only guards a long-running service against unbounded growth. */
const BPE_CACHE_LIMIT = 50_000;

// openai/CLIP's pre-tokenizer, with Python's whitespace set standing in for \s.
const WORD_RE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${PY_WHITESPACE}\\p{L}\\p{N}]+`,
  'giu',
);

const BYTE_TO_CHAR = bytesToUnicode();

/** A tokenizer file that is missing or malformed; `file` names it. */
export class TokenizerLoadError extends Error {
  override readonly name = 'TokenizerLoadError';

  constructor(
    /** Path of the offending file. */
    readonly file: string,
    detail: string,
  ) {
    super(`CLIP tokenizer file ${file}: ${detail}`);
  }
}

/** Options for {@link ClipTokenizer}. */
export interface ClipTokenizerOptions {
  /**
   * Id used to right-pad {@link ClipTokenizer.encodeForModel} output.
   * SD1.x pads with `<|endoftext|>`, SD2.x with `!` (id 0).
   * @defaultValue the `<|endoftext|>` id (49407)
   */
  padTokenId?: number;
  /**
   * Sequence length the text encoder expects, start and end tokens included.
   * @defaultValue 77
   */
  maxLength?: number;
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenizerLoadError(file, `cannot be read (${(err as Error).message})`);
  }
}

function readJsonObject(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFile(file));
  } catch (err) {
    if (err instanceof TokenizerLoadError) throw err;
    throw new TokenizerLoadError(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TokenizerLoadError(file, 'must hold a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function parseVocab(file: string): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(readJsonObject(file))) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerLoadError(file, `token ${JSON.stringify(token)} has an invalid id ${String(id)}`);
    }
    vocab.set(token, id as number);
  }
  return vocab;
}

function parseMerges(file: string): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  const lines = readFile(file).split(/\r?\n/);
  lines.forEach((line, index) => {
    // The first line of a Hugging Face merges file is a "#version: 0.2" header.
    if (line === '' || (index === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerLoadError(file, `line ${index + 1} is not a merge pair: ${JSON.stringify(line)}`);
    }
    merges.push([parts[0], parts[1]]);
  });
  if (merges.length === 0) throw new TokenizerLoadError(file, 'holds no merges');
  return merges;
}

/** `pad_token` is written either as a string or as an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * CLIP's byte-level BPE tokenizer, with openai/CLIP `simple_tokenizer`
 * semantics (text clean-up, pre-tokenizer regex, `</w>` word ends) and the
 * padding of Hugging Face's `CLIPTokenizer` for Stable Diffusion.
 */
export class ClipTokenizer {
  /** Id that pads {@link encodeForModel} output. */
  readonly padTokenId: number;
  /** Id of `<|startoftext|>` (49406 in CLIP's vocabulary). */
  readonly bosTokenId: number;
  /** Id of `<|endoftext|>` (49407 in CLIP's vocabulary). */
  readonly eosTokenId: number;
  /** Number of entries in the vocabulary (49408 for CLIP). */
  readonly vocabSize: number;
  /** Default sequence length of {@link encodeForModel}. */
  readonly maxLength: number;

  readonly #vocab: ReadonlyMap<string, number>;
  /** Merge rank keyed by "first second" (byte-mapped symbols never contain a space). */
  readonly #ranks: Map<string, number>;
  readonly #cache = new Map<string, readonly number[]>();

  /**
   * @param vocab - token → id, as in `vocab.json`
   * @param merges - merge pairs in priority order, as in `merges.txt`
   */
  constructor(
    vocab: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    options: ClipTokenizerOptions = {},
  ) {
    const bos = vocab.get(START_OF_TEXT);
    const eos = vocab.get(END_OF_TEXT);
    if (bos === undefined || eos === undefined) {
      throw new Error(`CLIP vocabulary lacks ${START_OF_TEXT} or ${END_OF_TEXT}`);
    }
    const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2, got ${maxLength}`);
    }
    this.#vocab = vocab;
    this.#ranks = new Map(merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
    this.bosTokenId = bos;
    this.eosTokenId = eos;
    this.padTokenId = options.padTokenId ?? eos;
    this.vocabSize = vocab.size;
    this.maxLength = maxLength;
  }

  /** Loads `vocab.json` and `merges.txt` (Hugging Face layout). */
  static fromFiles(vocabPath: string, mergesPath: string, options?: ClipTokenizerOptions): ClipTokenizer {
    return new ClipTokenizer(parseVocab(vocabPath), parseMerges(mergesPath), options);
  }

  /**
   * Loads a diffusers `tokenizer/` folder: `vocab.json`, `merges.txt` and,
   * when present, `tokenizer_config.json` / `special_tokens_map.json` for the
   * pad token (SD1.x `<|endoftext|>`, SD2.x `!`) and `model_max_length`.
   */
  static fromModelDir(tokenizerDir: string): ClipTokenizer {
    const vocabPath = path.join(tokenizerDir, 'vocab.json');
    const vocab = parseVocab(vocabPath);
    const merges = parseMerges(path.join(tokenizerDir, 'merges.txt'));

    const configPath = path.join(tokenizerDir, 'tokenizer_config.json');
    const specialPath = path.join(tokenizerDir, 'special_tokens_map.json');
    const config = fs.existsSync(configPath) ? readJsonObject(configPath) : {};
    const special = fs.existsSync(specialPath) ? readJsonObject(specialPath) : {};

    const options: ClipTokenizerOptions = {};
    const padToken = tokenContent(config.pad_token) ?? tokenContent(special.pad_token);
    if (padToken !== undefined) {
      const id = vocab.get(padToken);
      const source = tokenContent(config.pad_token) !== undefined ? configPath : specialPath;
      if (id === undefined) {
        throw new TokenizerLoadError(source, `pad_token ${JSON.stringify(padToken)} is not in ${vocabPath}`);
      }
      options.padTokenId = id;
    }
    const modelMax = config.model_max_length;
    if (typeof modelMax === 'number' && Number.isInteger(modelMax) && modelMax <= MAX_SANE_MODEL_LENGTH) {
      if (modelMax < 2) throw new TokenizerLoadError(configPath, `model_max_length ${modelMax} is too small`);
      options.maxLength = modelMax;
    }
    return new ClipTokenizer(vocab, merges, options);
  }

  /** Start token, BPE ids of the cleaned text, end token; no padding, no truncation. */
  encode(text: string): number[] {
    const ids = [this.bosTokenId];
    for (const word of cleanClipText(text).match(WORD_RE) ?? []) {
      for (const id of this.#encodeWord(word)) ids.push(id);
    }
    ids.push(this.eosTokenId);
    return ids;
  }

  /**
   * Text-encoder input: start token, at most `maxLength − 2` text ids, end
   * token, then the pad id up to `maxLength`.
   */
  encodeForModel(text: string, maxLength: number = this.maxLength): Int32Array {
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2, got ${maxLength}`);
    }
    const ids = this.encode(text);
    const body = Math.min(ids.length - 2, maxLength - 2);
    const out = new Int32Array(maxLength).fill(this.padTokenId);
    out[0] = this.bosTokenId;
    for (let i = 1; i <= body; i++) out[i] = ids[i];
    out[body + 1] = this.eosTokenId;
    return out;
  }

  #encodeWord(word: string): readonly number[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    let ids: number[];
    if (word === START_OF_TEXT || word === END_OF_TEXT) {
      ids = [word === START_OF_TEXT ? this.bosTokenId : this.eosTokenId];
    } else {
      let mapped = '';
      for (const byte of Buffer.from(word, 'utf8')) mapped += BYTE_TO_CHAR[byte];
      ids = this.#bpe(mapped).map((symbol) => {
        const id = this.#vocab.get(symbol);
        if (id === undefined)
          throw new Error(`CLIP vocabulary has no entry for BPE symbol ${JSON.stringify(symbol)}`);
        return id;
      });
    }
    if (this.#cache.size >= BPE_CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, ids);
    return ids;
  }

  /** Applies merges by rank, lowest first, until none applies; the last symbol carries `</w>`. */
  #bpe(token: string): string[] {
    let symbols = [...token];
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.#ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === first && symbols[i + 1] === second && i < symbols.length - 1) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
