/**
 * CLIP's byte-level BPE tokenizer, id for id with openai/CLIP `clip/simple_tokenizer.py` (the
 * tokenizer of Stable Diffusion 1.5's text encoder; Hugging Face's CLIPTokenizer gives the same ids
 * when ftfy is installed), reading the vocabulary the package ships in `assets/clip/`.
 *
 * Text cleanup (text-cleanup.ts) follows simple_tokenizer; its ftfy stand-in lacks ftfy's mojibake
 * repair, so only text that is itself mis-decoded (such as "cafÃ©") can get other ids than the reference.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { cleanText, RE_SPACE } from './text-cleanup';

const gunzipAsync = promisify(gunzip);

const START_OF_TEXT = '<|startoftext|>';
const END_OF_TEXT = '<|endoftext|>';
/** simple_tokenizer reads merges from lines 1 .. 49152-256-2 (line 0 is a version header). */
const MERGE_COUNT = 49152 - 256 - 2;
/** Both lib/tokenizers/ (vitest) and dist/tokenizers/ (build) sit two levels below the package root. */
const DEFAULT_VOCAB_PATH = join(__dirname, '..', '..', 'assets', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
/** Bounds the per-word BPE cache of a long-lived tokenizer; prompts reuse far fewer words. */
const MAX_CACHED_WORDS = 100_000;

export interface ClipDecodeOptions {
  /** Drop <|startoftext|> and <|endoftext|> (which is also the padding). Default false, as CLIP. */
  skipSpecialTokens?: boolean;
}

export interface ClipEncodeForModelOptions {
  /** Length of each row, <|startoftext|> and <|endoftext|> included. Default 77 (`modelMaxLength`). */
  maxLength?: number;
  /** 'max_length' pads each row with `padTokenId` up to `maxLength`; 'none' leaves it. Default 'max_length'. */
  padding?: 'max_length' | 'none';
  /** Keep only the first `maxLength - 2` tokens of each text. Default true. */
  truncation?: boolean;
  /** Receives the truncation warning; default `console.warn`. */
  onWarning?: (message: string) => void;
}

export interface ClipModelInput {
  /** One row of ids per input text. */
  inputIds: number[][];
  /** Per text, the decoded part that truncation dropped, or null when nothing was dropped. */
  truncatedText: (string | null)[];
}

export interface ClipEncodeLongOptions {
  /** Length of each window row, <|startoftext|> and <|endoftext|> included. Default 77. */
  maxLength?: number;
}

/** simple_tokenizer's bytes_to_unicode(), in its insertion order (which is also the order of ids 0..255). */
const BYTE_ORDER: number[] = [];
/** Byte value -> its printable stand-in character. */
const BYTE_ENCODER: string[] = new Array<string>(256);
/** Char code of a stand-in (all are below U+0144) -> byte value, or -1. */
const BYTE_DECODER = new Int16Array(0x200).fill(-1);
{
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  for (let b = 0; b < 256; b++) if (isPrintable(b)) BYTE_ORDER.push(b);
  const codes = BYTE_ORDER.slice();
  for (let b = 0, n = 0; b < 256; b++) {
    if (!isPrintable(b)) {
      BYTE_ORDER.push(b);
      codes.push(256 + n++);
    }
  }
  BYTE_ORDER.forEach((b, i) => {
    BYTE_ENCODER[b] = String.fromCharCode(codes[i]);
    BYTE_DECODER[codes[i]] = b;
  });
}
/** Printable ASCII stands for itself, so such words skip the UTF-8 round trip. */
const PRINTABLE_ASCII_RE = /^[\x21-\x7e]+$/;

/**
 * simple_tokenizer's pattern (with re.IGNORECASE). The one code point where Python's case-insensitive
 * classes and JS's `iu` disagree is U+0345, which Python matches nowhere; `preTokenize` turns it into
 * a space, which has the same effect (it splits words and yields no token).
 */
const PRETOKEN_RE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${RE_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);

function preTokenize(cleaned: string): string[] {
  return cleaned.replace(/\u0345/g, ' ').match(PRETOKEN_RE) ?? [];
}

// ---------------------------------------------------------------------------------------------

interface EncodedWord {
  readonly tokens: readonly string[];
  readonly ids: readonly number[];
}

/**
 * The CLIP tokenizer. Build it with `loadClipTokenizer()`, or `new CLIPTokenizer(text)` from the
 * decompressed text of a `bpe_simple_vocab_16e6.txt` file.
 */
export class CLIPTokenizer {
  /** 49408: 256 bytes, 256 bytes ending a word, 48894 merges, <|startoftext|>, <|endoftext|>. */
  readonly vocabSize: number;
  /** <|startoftext|>, 49406. */
  readonly bosTokenId: number;
  /** <|endoftext|>, 49407. */
  readonly eosTokenId: number;
  /** SD1.5 pads with <|endoftext|>: 49407. */
  readonly padTokenId: number;
  /** Sequence length of the CLIP text encoder: 77. */
  readonly modelMaxLength = 77;

  private readonly vocab: string[];
  private readonly encoder = new Map<string, number>();
  /** "first second" -> merge priority (lower merges first). */
  private readonly bpeRanks = new Map<string, number>();
  /** Pre-token -> its BPE tokens and ids, as simple_tokenizer's `cache`. */
  private readonly cache = new Map<string, EncodedWord>();

  constructor(bpeText: string) {
    const byteChars = BYTE_ORDER.map((b) => BYTE_ENCODER[b]);
    this.vocab = [...byteChars, ...byteChars.map((c) => c + '</w>')];
    // Walk only the lines CLIP uses: the file has 262k lines, and splitting all of them doubles the load time.
    let lineStart = bpeText.indexOf('\n') + 1;
    for (let i = 0; i < MERGE_COUNT; i++) {
      let lineEnd = bpeText.indexOf('\n', lineStart);
      if (lineStart === 0 || (lineEnd < 0 && i < MERGE_COUNT - 1)) {
        throw new Error(`CLIP vocabulary is too short: it needs ${MERGE_COUNT} merge lines after its header`);
      }
      if (lineEnd < 0) lineEnd = bpeText.length;
      const line = bpeText.slice(lineStart, lineEnd);
      const pair = line.trim().split(/\s+/); // Python's str.split()
      if (pair.length !== 2 || !pair[0]) {
        throw new Error(`CLIP vocabulary line ${i + 2} is not a merge of two symbols: ${JSON.stringify(line)}`);
      }
      this.bpeRanks.set(`${pair[0]} ${pair[1]}`, i);
      this.vocab.push(pair[0] + pair[1]);
      lineStart = lineEnd + 1;
    }
    this.vocab.push(START_OF_TEXT, END_OF_TEXT);
    this.vocab.forEach((token, id) => this.encoder.set(token, id));
    this.vocabSize = this.vocab.length;
    this.bosTokenId = this.encoder.get(START_OF_TEXT)!;
    this.eosTokenId = this.encoder.get(END_OF_TEXT)!;
    this.padTokenId = this.eosTokenId;
  }

  /** The BPE token strings of `text` (no special tokens added), e.g. "a cat" -> ["a</w>", "cat</w>"]. */
  tokenize(text: string): string[] {
    return this.encodeWords(text).flatMap((word) => word.tokens);
  }

  /** `[bosTokenId, ...tokens, eosTokenId]`, without padding or truncation (as the golden check expects). */
  encode(text: string): number[] {
    return [this.bosTokenId, ...this.encodeTokens(text), this.eosTokenId];
  }

  /**
   * The text encoder's input, like `tokenizer(text, padding="max_length", max_length=77, truncation=True)`
   * in diffusers: each row is `[bos, ...tokens.slice(0, maxLength - 2), eos]`, padded with `padTokenId`.
   * Truncation warns as diffusers does, naming the dropped text.
   */
  encodeForModel(text: string | readonly string[], options: ClipEncodeForModelOptions = {}): ClipModelInput {
    const { maxLength = this.modelMaxLength, padding = 'max_length', truncation = true } = options;
    checkMaxLength(maxLength, 2);
    if (padding !== 'max_length' && padding !== 'none') {
      throw new TypeError(`padding must be 'max_length' or 'none', got ${JSON.stringify(padding)}`);
    }
    const texts = typeof text === 'string' ? [text] : text;
    if (!Array.isArray(texts)) throw new TypeError(`text must be a string or an array of strings, got ${typeof text}`);
    const warn = options.onWarning ?? ((message: string) => console.warn(message));
    const inputIds: number[][] = [];
    const truncatedText: (string | null)[] = [];
    for (const item of texts) {
      let tokens = this.encodeTokens(item);
      let dropped: string | null = null;
      if (truncation && tokens.length > maxLength - 2) {
        dropped = this.decode(tokens.slice(maxLength - 2)).trim();
        tokens = tokens.slice(0, maxLength - 2);
        warn(
          'The following part of your input was truncated because CLIP can only handle sequences up to ' +
            `${maxLength} tokens: ${dropped}`,
        );
      }
      const row = [this.bosTokenId, ...tokens, this.eosTokenId];
      inputIds.push(padding === 'max_length' ? this.pad(row, maxLength) : row);
      truncatedText.push(dropped);
    }
    return { inputIds, truncatedText };
  }

  /**
   * Prompts longer than the encoder's window: the tokens cut into consecutive windows of
   * `maxLength - 2`, each row `[bos, ...window, eos]` padded to `maxLength`. Encode each row and
   * concatenate the embeddings along the sequence axis. Always at least one row.
   */
  encodeLong(text: string, options: ClipEncodeLongOptions = {}): number[][] {
    const { maxLength = this.modelMaxLength } = options;
    checkMaxLength(maxLength, 3);
    const tokens = this.encodeTokens(text);
    const window = maxLength - 2;
    const rows: number[][] = [];
    for (let start = 0; start === 0 || start < tokens.length; start += window) {
      rows.push(this.pad([this.bosTokenId, ...tokens.slice(start, start + window), this.eosTokenId], maxLength));
    }
    return rows;
  }

  /**
   * Ids back to text, as CLIP's decode: tokens joined, bytes decoded as UTF-8 (invalid bytes become
   * U+FFFD), each "</w>" a space, so the text ends with a space after a final word.
   */
  decode(ids: Iterable<number>, options: ClipDecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    let symbols = '';
    for (const id of ids) {
      if (skip && (id === this.bosTokenId || id === this.eosTokenId)) continue;
      const token = Number.isInteger(id) ? this.vocab[id] : undefined;
      if (token === undefined) throw new RangeError(`token id ${id} is not in the CLIP vocabulary (0..${this.vocabSize - 1})`);
      symbols += token;
    }
    const bytes = new Uint8Array(symbols.length);
    for (let i = 0; i < symbols.length; i++) bytes[i] = BYTE_DECODER[symbols.charCodeAt(i)];
    // ignoreBOM keeps a leading U+FEFF, as Python's utf-8 codec does.
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes).replaceAll('</w>', ' ');
  }

  private encodeTokens(text: string): number[] {
    return this.encodeWords(text).flatMap((word) => word.ids);
  }

  private encodeWords(text: string): EncodedWord[] {
    return preTokenize(cleanText(checkText(text))).map((word) => this.encodeWord(word));
  }

  private pad(row: number[], length: number): number[] {
    while (row.length < length) row.push(this.padTokenId);
    return row;
  }

  private encodeWord(word: string): EncodedWord {
    let entry = this.cache.get(word);
    if (entry) return entry;
    let tokens: string[];
    if (word === START_OF_TEXT || word === END_OF_TEXT) {
      tokens = [word]; // simple_tokenizer seeds its cache with both, so they skip BPE
    } else {
      let symbols = word;
      if (!PRINTABLE_ASCII_RE.test(word)) {
        symbols = '';
        for (const byte of Buffer.from(word, 'utf8')) symbols += BYTE_ENCODER[byte];
      }
      tokens = this.bpe(symbols);
    }
    entry = { tokens, ids: tokens.map((token) => this.encoder.get(token)!) };
    if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
    this.cache.set(word, entry);
    return entry;
  }

  /** simple_tokenizer.bpe: repeatedly merge every occurrence of the best-ranked adjacent pair. */
  private bpe(symbols: string): string[] {
    // Stand-in characters are all BMP, so one UTF-16 unit is one symbol.
    let word = symbols.split('');
    word[word.length - 1] += '</w>';
    while (word.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.bpeRanks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    return word;
  }
}

function checkText(text: unknown): string {
  if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${text === null ? 'null' : typeof text}`);
  return text;
}

function checkMaxLength(maxLength: number, min: number): void {
  if (!Number.isInteger(maxLength) || maxLength < min) {
    throw new RangeError(`maxLength must be an integer >= ${min}, got ${maxLength}`);
  }
}

const loaded = new Map<string, Promise<CLIPTokenizer>>();

/**
 * Loads (once per path) the CLIP tokenizer. `vocabPath` defaults to the package's
 * `assets/clip/bpe_simple_vocab_16e6.txt.gz`; a gzip file or plain text both work.
 */
export function loadClipTokenizer(options: { vocabPath?: string } = {}): Promise<CLIPTokenizer> {
  const vocabPath = resolve(options.vocabPath ?? DEFAULT_VOCAB_PATH);
  let tokenizer = loaded.get(vocabPath);
  if (!tokenizer) {
    tokenizer = readVocab(vocabPath).then((text) => new CLIPTokenizer(text));
    // A failed load is not cached, so a later call can retry (e.g. after the file is restored).
    tokenizer.catch(() => loaded.delete(vocabPath));
    loaded.set(vocabPath, tokenizer);
  }
  return tokenizer;
}

async function readVocab(vocabPath: string): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(vocabPath);
    if (data[0] === 0x1f && data[1] === 0x8b) data = await gunzipAsync(data);
  } catch (error) {
    throw new Error(`Could not read the CLIP vocabulary ${vocabPath}: ${(error as Error).message}`, { cause: error });
  }
  return data.toString('utf8');
}
