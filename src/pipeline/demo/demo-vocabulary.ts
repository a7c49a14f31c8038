import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { bytesToUnicode } from '../tokenizer/bytes-to-unicode';

/** CLIP's special tokens; the project's tokenizer reads their ids from vocab.json. */
export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';

/** Tokens (one word each) the demo BPE is trained on, so ordinary prompts become a handful of ids. */
const CORPUS = `
a an the of and in on with at by for to from is are it this that as or
photo photograph painting portrait landscape illustration drawing sketch render digital art artwork style
detailed highly high quality resolution beautiful cinematic lighting light dark bright colorful vibrant
soft sharp focus realistic photorealistic fantasy surreal abstract cute old young man woman girl boy child
people person face eyes hair astronaut riding horse cat dog bird fish dragon robot castle city street house
forest tree trees flower flowers garden mountain mountains river lake ocean sea beach sky clouds sun sunset
sunrise moon stars night day morning evening winter summer spring autumn snow rain fog water fire ice stone
wood glass gold silver red orange yellow green blue purple pink black white grey gray brown small big large
giant tiny little space planet mars earth galaxy nebula futuristic ancient medieval modern oil watercolor
canvas artstation trending concept sci fi anime cartoon octane unreal engine studio ghibli van gogh monet
giraffe lion tiger elephant bear wolf fox owl rabbit car train boat ship bridge tower temple village valley
desert jungle island field meadow road window room table chair book coffee cup food fruit apple cake wearing
hat dress armor sword standing sitting walking flying under over between inside very super ultra epic
dramatic golden hour volumetric reflections intricate elegant symmetrical centered wide angle close up view
background foreground masterpiece best
`
  .split(/\s+/)
  .filter((w) => w.length > 0);

/** A byte-level BPE vocabulary in CLIP's layout. */
export interface DemoVocabulary {
  /** token → id, in id order: 256 bytes, 256 bytes + `</w>`, merge results, then the two special tokens. */
  readonly vocab: ReadonlyMap<string, number>;
  /** Merge rules in rank order. */
  readonly merges: readonly (readonly [string, string])[];
  /** Number of ids (one past the largest). */
  readonly size: number;
  readonly startOfTextId: number;
  readonly endOfTextId: number;
}

/**
 * The byte-level alphabet in CLIP's vocabulary order: the printable Latin-1
 * bytes first (so `!` is id 0), then the other 68 bytes, which the byte table
 * maps to U+0100 onwards — i.e. the table's characters in code-point order.
 */
function byteAlphabet(): string[] {
  return bytesToUnicode().sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

/**
 * Learns BPE merges on {@link CORPUS}: repeatedly merge the most frequent
 * adjacent pair (ties broken by the pair's text, so the result never depends
 * on iteration order) until every corpus word is one token.
 */
function learnMerges(): [string, string][] {
  // Each word as CLIP sees it: characters, the last one marked with </w>.
  const words = CORPUS.map((w) => {
    const chars = [...w];
    chars[chars.length - 1] += '</w>';
    return chars;
  });
  const merges: [string, string][] = [];
  for (;;) {
    const counts = new Map<string, number>();
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        const key = `${word[i]} ${word[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, count] of counts) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined) return merges;
    const [left, right] = best.split(' ') as [string, string];
    merges.push([left, right]);
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        if (word[i] === left && word[i + 1] === right) word.splice(i, 2, left + right);
      }
    }
  }
}

let cached: DemoVocabulary | undefined;

/** The demo tokenizer's vocabulary (computed once, the same every time). */
export function demoVocabulary(): DemoVocabulary {
  if (cached) return cached;
  const vocab = new Map<string, number>();
  const add = (token: string): void => {
    if (!vocab.has(token)) vocab.set(token, vocab.size);
  };
  const alphabet = byteAlphabet();
  alphabet.forEach(add);
  alphabet.forEach((c) => add(`${c}</w>`));
  const merges = learnMerges();
  for (const [l, r] of merges) add(l + r);
  add(START_OF_TEXT);
  add(END_OF_TEXT);
  cached = {
    vocab,
    merges,
    size: vocab.size,
    startOfTextId: vocab.get(START_OF_TEXT)!,
    endOfTextId: vocab.get(END_OF_TEXT)!,
  };
  return cached;
}

/**
 * Writes `vocab.json`, `merges.txt`, `tokenizer_config.json` and
 * `special_tokens_map.json` for the demo vocabulary into `dir` (SD 1.x
 * conventions: 77 tokens, padded with `<|endoftext|>`, or with `padToken`:
 * `!` for SD 2.x and SDXL's `tokenizer_2`). Returns the vocabulary.
 */
export async function writeDemoTokenizer(dir: string, padToken = END_OF_TEXT): Promise<DemoVocabulary> {
  const v = demoVocabulary();
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(v.vocab)) + '\n');
  await fsp.writeFile(
    path.join(dir, 'merges.txt'),
    ['#version: 0.2', ...v.merges.map(([l, r]) => `${l} ${r}`)].join('\n') + '\n',
  );
  const special = {
    bos_token: START_OF_TEXT,
    eos_token: END_OF_TEXT,
    pad_token: padToken,
    unk_token: END_OF_TEXT,
  };
  const config = {
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: 77,
    do_lower_case: true,
    add_prefix_space: false,
    errors: 'replace',
    ...special,
  };
  await fsp.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  await fsp.writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify(special, null, 2) + '\n');
  return v;
}
