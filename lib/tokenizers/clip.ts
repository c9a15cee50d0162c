/**
 * CLIP's byte-level BPE tokenizer, id for id with openai/CLIP `clip/simple_tokenizer.py` (the
 * tokenizer of Stable Diffusion 1.5's text encoder; Hugging Face's CLIPTokenizer gives the same ids
 * when ftfy is installed), reading the vocabulary the package ships in `assets/clip/`.
 *
 * Text cleanup follows simple_tokenizer: ftfy.fix_text, html.unescape twice, strip, whitespace
 * collapse, lowercase. ftfy is Python-only, so `fixText` below reproduces its deterministic fixers
 * (quotes, ligatures, character width, control characters, NFC, ...) but not its mojibake repair:
 * only text that is itself mis-decoded (such as "cafÃ©") can get other ids than the reference.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

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
 * The `regex` module's \s, which whitespace_clean collapses and the pre-tokenizer excludes (JS's \s
 * differs: it lacks U+0085 and has U+FEFF).
 */
const RE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RE = new RegExp(`[${RE_SPACE}]+`, 'g');
/**
 * simple_tokenizer's pattern (with re.IGNORECASE). The one code point where Python's case-insensitive
 * classes and JS's `iu` disagree is U+0345, which Python matches nowhere; `preTokenize` turns it into
 * a space, which has the same effect (it splits words and yields no token).
 */
const PRETOKEN_RE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${RE_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);

/** Python's str.isspace(), what str.strip() removes (RE_SPACE plus U+001C..U+001F). */
function isPySpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

function pyStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isPySpace(text.charCodeAt(start))) start++;
  while (end > start && isPySpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** simple_tokenizer: whitespace_clean(basic_clean(text)).lower(). */
function cleanText(text: string): string {
  const basic = pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
  return pyStrip(basic.replace(WHITESPACE_RE, ' ')).toLowerCase();
}

function preTokenize(cleaned: string): string[] {
  return cleaned.replace(/\u0345/g, ' ').match(PRETOKEN_RE) ?? [];
}

// ---------------------------------------------------------------------------------------------
// ftfy.fix_text (ftfy 6), without fix_encoding: same fixers, same order, repeated to a fixed point.

/** Windows-1252 for bytes 0x80..0x9F, undefined bytes kept as C1 (ftfy's "sloppy" codec; html.unescape agrees). */
const CP1252_C1 = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ';
const LIGATURES: Readonly<Record<string, string>> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž', 'Ǉ': 'LJ',
  'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj', 'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl',
  'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = /[ĲĳŉǱǲǳǄǅǆǇǈǉǊǋǌﬀﬁﬂﬃﬄﬅﬆ]/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const CONTROL_CHARS_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixText(text: string): string {
  // ftfy fixes line by line; its unescape_html="auto" stops for good at the first line holding '<'.
  let unescape = true;
  let out = '';
  for (const line of text.split(/(?<=\n)/)) {
    if (unescape && line.includes('<')) unescape = false;
    out += fixLine(line, unescape);
  }
  return out;
}

function fixLine(text: string, unescape: boolean): string {
  for (;;) {
    const before = text;
    if (unescape) text = text.replace(/&#?[0-9A-Za-z]{1,24};/g, ftfyUnescapeEntity);
    text = text
      .replace(/[\x80-\x9f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80])
      .replace(LIGATURE_RE, (c) => LIGATURES[c])
      // fix_character_width: NFKC of the halfwidth/fullwidth block, and the ideographic space.
      .replace(/[\u3000\uff01-\uffef]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')))
      .replace(/[\u02bc\u2018-\u201b]/g, "'")
      .replace(/[\u201c-\u201f]/g, '"')
      .replace(/\r\n?|[\u2028\u2029\x85]/g, '\n')
      .replace(LONE_SURROGATE_RE, '\ufffd')
      .replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '')
      .replace(CONTROL_CHARS_RE, '')
      .normalize('NFC');
    if (text === before) return text;
  }
}

/** ftfy's unescape_html: only entities closed by ';', plus all-caps forms such as &EACUTE;. */
function ftfyUnescapeEntity(entity: string): string {
  const known = ftfyEntities().get(entity);
  if (known !== undefined) return known;
  if (entity.startsWith('&#')) {
    const unescaped = htmlUnescape(entity);
    return unescaped.includes(';') ? entity : unescaped;
  }
  return entity;
}

let ftfyEntityMap: Map<string, string> | undefined;
function ftfyEntities(): Map<string, string> {
  if (ftfyEntityMap) return ftfyEntityMap;
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(HTML5_ENTITIES)) {
    map.set(`&${name};`, value);
    const upper = `&${name.toUpperCase()};`;
    if (name === name.toLowerCase() && htmlUnescape(upper) === upper) map.set(upper, value.toUpperCase());
  }
  return (ftfyEntityMap = map);
}

// ---------------------------------------------------------------------------------------------
// Python's html.unescape, exactly: numeric references, the HTML5 named set, and the legacy names
// that may omit ';' (longest prefix wins, as in "&notit;" -> "¬it;").

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;
let namedEntities: Map<string, string> | undefined;
let legacyEntities: Set<string> | undefined;

function htmlUnescape(text: string): string {
  return text.includes('&') ? text.replace(CHARREF_RE, (_match, ref: string) => replaceCharref(ref)) : text;
}

function replaceCharref(ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const code = parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10); // parseInt stops at a trailing ';'
    if (code === 0) return '\ufffd';
    if (code === 0x0d) return '\r';
    if (code >= 0x80 && code <= 0x9f) return CP1252_C1[code - 0x80];
    if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
    if (
      (code >= 0x01 && code <= 0x08) || code === 0x0b || (code >= 0x0e && code <= 0x1f) || code === 0x7f ||
      (code >= 0xfdd0 && code <= 0xfdef) || (code & 0xffff) >= 0xfffe
    ) {
      return '';
    }
    return String.fromCodePoint(code);
  }
  // A Map, not the object literal: names like "constructor" must not reach Object.prototype.
  namedEntities ??= new Map(Object.entries(HTML5_ENTITIES));
  legacyEntities ??= new Set(HTML5_LEGACY_NAMES);
  if (ref.endsWith(';')) {
    const value = namedEntities.get(ref.slice(0, -1));
    if (value !== undefined) return value;
  } else if (legacyEntities.has(ref)) {
    return namedEntities.get(ref)!;
  }
  for (let end = ref.length - 1; end > 1; end--) {
    const prefix = ref.slice(0, end);
    if (legacyEntities.has(prefix)) return namedEntities.get(prefix)! + ref.slice(end);
  }
  return '&' + ref;
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

// ---------------------------------------------------------------------------------------------
// The WHATWG named character references, as Python's html.entities.html5: names without the ';'
// (all of them are valid with it), then the legacy names also valid without it. Generated data.

const HTML5_ENTITIES: Readonly<Record<string, string>> = {
  Aacute:'Á',aacute:'á',Abreve:'Ă',abreve:'ă',ac:'∾',acd:'∿',acE:'∾\u0333',Acirc:'Â',acirc:'â',acute:'´',Acy:'А',
  acy:'а',AElig:'Æ',aelig:'æ',af:'\u2061',Afr:'𝔄',afr:'𝔞',Agrave:'À',agrave:'à',alefsym:'ℵ',aleph:'ℵ',Alpha:'Α',
  alpha:'α',Amacr:'Ā',amacr:'ā',amalg:'⨿',AMP:'&',amp:'&',And:'⩓',and:'∧',andand:'⩕',andd:'⩜',andslope:'⩘',andv:'⩚',
  ang:'∠',ange:'⦤',angle:'∠',angmsd:'∡',angmsdaa:'⦨',angmsdab:'⦩',angmsdac:'⦪',angmsdad:'⦫',angmsdae:'⦬',angmsdaf:'⦭',
  angmsdag:'⦮',angmsdah:'⦯',angrt:'∟',angrtvb:'⊾',angrtvbd:'⦝',angsph:'∢',angst:'Å',angzarr:'⍼',Aogon:'Ą',aogon:'ą',
  Aopf:'𝔸',aopf:'𝕒',ap:'≈',apacir:'⩯',apE:'⩰',ape:'≊',apid:'≋',apos:'\'',ApplyFunction:'\u2061',approx:'≈',
  approxeq:'≊',Aring:'Å',aring:'å',Ascr:'𝒜',ascr:'𝒶',Assign:'≔',ast:'*',asymp:'≈',asympeq:'≍',Atilde:'Ã',atilde:'ã',
  Auml:'Ä',auml:'ä',awconint:'∳',awint:'⨑',backcong:'≌',backepsilon:'϶',backprime:'‵',backsim:'∽',backsimeq:'⋍',
  Backslash:'∖',Barv:'⫧',barvee:'⊽',Barwed:'⌆',barwed:'⌅',barwedge:'⌅',bbrk:'⎵',bbrktbrk:'⎶',bcong:'≌',Bcy:'Б',
  bcy:'б',bdquo:'„',becaus:'∵',Because:'∵',because:'∵',bemptyv:'⦰',bepsi:'϶',bernou:'ℬ',Bernoullis:'ℬ',Beta:'Β',
  beta:'β',beth:'ℶ',between:'≬',Bfr:'𝔅',bfr:'𝔟',bigcap:'⋂',bigcirc:'◯',bigcup:'⋃',bigodot:'⨀',bigoplus:'⨁',
  bigotimes:'⨂',bigsqcup:'⨆',bigstar:'★',bigtriangledown:'▽',bigtriangleup:'△',biguplus:'⨄',bigvee:'⋁',bigwedge:'⋀',
  bkarow:'⤍',blacklozenge:'⧫',blacksquare:'▪',blacktriangle:'▴',blacktriangledown:'▾',blacktriangleleft:'◂',
  blacktriangleright:'▸',blank:'␣',blk12:'▒',blk14:'░',blk34:'▓',block:'█',bne:'=\u20e5',bnequiv:'≡\u20e5',bNot:'⫭',
  bnot:'⌐',Bopf:'𝔹',bopf:'𝕓',bot:'⊥',bottom:'⊥',bowtie:'⋈',boxbox:'⧉',boxDL:'╗',boxDl:'╖',boxdL:'╕',boxdl:'┐',
  boxDR:'╔',boxDr:'╓',boxdR:'╒',boxdr:'┌',boxH:'═',boxh:'─',boxHD:'╦',boxHd:'╤',boxhD:'╥',boxhd:'┬',boxHU:'╩',
  boxHu:'╧',boxhU:'╨',boxhu:'┴',boxminus:'⊟',boxplus:'⊞',boxtimes:'⊠',boxUL:'╝',boxUl:'╜',boxuL:'╛',boxul:'┘',
  boxUR:'╚',boxUr:'╙',boxuR:'╘',boxur:'└',boxV:'║',boxv:'│',boxVH:'╬',boxVh:'╫',boxvH:'╪',boxvh:'┼',boxVL:'╣',
  boxVl:'╢',boxvL:'╡',boxvl:'┤',boxVR:'╠',boxVr:'╟',boxvR:'╞',boxvr:'├',bprime:'‵',Breve:'˘',breve:'˘',brvbar:'¦',
  Bscr:'ℬ',bscr:'𝒷',bsemi:'⁏',bsim:'∽',bsime:'⋍',bsol:'\\',bsolb:'⧅',bsolhsub:'⟈',bull:'•',bullet:'•',bump:'≎',
  bumpE:'⪮',bumpe:'≏',Bumpeq:'≎',bumpeq:'≏',Cacute:'Ć',cacute:'ć',Cap:'⋒',cap:'∩',capand:'⩄',capbrcup:'⩉',capcap:'⩋',
  capcup:'⩇',capdot:'⩀',CapitalDifferentialD:'ⅅ',caps:'∩\ufe00',caret:'⁁',caron:'ˇ',Cayleys:'ℭ',ccaps:'⩍',Ccaron:'Č',
  ccaron:'č',Ccedil:'Ç',ccedil:'ç',Ccirc:'Ĉ',ccirc:'ĉ',Cconint:'∰',ccups:'⩌',ccupssm:'⩐',Cdot:'Ċ',cdot:'ċ',cedil:'¸',
  Cedilla:'¸',cemptyv:'⦲',cent:'¢',CenterDot:'·',centerdot:'·',Cfr:'ℭ',cfr:'𝔠',CHcy:'Ч',chcy:'ч',check:'✓',
  checkmark:'✓',Chi:'Χ',chi:'χ',cir:'○',circ:'ˆ',circeq:'≗',circlearrowleft:'↺',circlearrowright:'↻',circledast:'⊛',
  circledcirc:'⊚',circleddash:'⊝',CircleDot:'⊙',circledR:'®',circledS:'Ⓢ',CircleMinus:'⊖',CirclePlus:'⊕',
  CircleTimes:'⊗',cirE:'⧃',cire:'≗',cirfnint:'⨐',cirmid:'⫯',cirscir:'⧂',ClockwiseContourIntegral:'∲',
  CloseCurlyDoubleQuote:'”',CloseCurlyQuote:'’',clubs:'♣',clubsuit:'♣',Colon:'∷',colon:':',Colone:'⩴',colone:'≔',
  coloneq:'≔',comma:',',commat:'@',comp:'∁',compfn:'∘',complement:'∁',complexes:'ℂ',cong:'≅',congdot:'⩭',
  Congruent:'≡',Conint:'∯',conint:'∮',ContourIntegral:'∮',Copf:'ℂ',copf:'𝕔',coprod:'∐',Coproduct:'∐',COPY:'©',
  copy:'©',copysr:'℗',CounterClockwiseContourIntegral:'∳',crarr:'↵',Cross:'⨯',cross:'✗',Cscr:'𝒞',cscr:'𝒸',csub:'⫏',
  csube:'⫑',csup:'⫐',csupe:'⫒',ctdot:'⋯',cudarrl:'⤸',cudarrr:'⤵',cuepr:'⋞',cuesc:'⋟',cularr:'↶',cularrp:'⤽',Cup:'⋓',
  cup:'∪',cupbrcap:'⩈',CupCap:'≍',cupcap:'⩆',cupcup:'⩊',cupdot:'⊍',cupor:'⩅',cups:'∪\ufe00',curarr:'↷',curarrm:'⤼',
  curlyeqprec:'⋞',curlyeqsucc:'⋟',curlyvee:'⋎',curlywedge:'⋏',curren:'¤',curvearrowleft:'↶',curvearrowright:'↷',
  cuvee:'⋎',cuwed:'⋏',cwconint:'∲',cwint:'∱',cylcty:'⌭',Dagger:'‡',dagger:'†',daleth:'ℸ',Darr:'↡',dArr:'⇓',darr:'↓',
  dash:'‐',Dashv:'⫤',dashv:'⊣',dbkarow:'⤏',dblac:'˝',Dcaron:'Ď',dcaron:'ď',Dcy:'Д',dcy:'д',DD:'ⅅ',dd:'ⅆ',ddagger:'‡',
  ddarr:'⇊',DDotrahd:'⤑',ddotseq:'⩷',deg:'°',Del:'∇',Delta:'Δ',delta:'δ',demptyv:'⦱',dfisht:'⥿',Dfr:'𝔇',dfr:'𝔡',
  dHar:'⥥',dharl:'⇃',dharr:'⇂',DiacriticalAcute:'´',DiacriticalDot:'˙',DiacriticalDoubleAcute:'˝',
  DiacriticalGrave:'\u0060',DiacriticalTilde:'˜',diam:'⋄',Diamond:'⋄',diamond:'⋄',diamondsuit:'♦',diams:'♦',die:'¨',
  DifferentialD:'ⅆ',digamma:'ϝ',disin:'⋲',div:'÷',divide:'÷',divideontimes:'⋇',divonx:'⋇',DJcy:'Ђ',djcy:'ђ',
  dlcorn:'⌞',dlcrop:'⌍',dollar:'$',Dopf:'𝔻',dopf:'𝕕',Dot:'¨',dot:'˙',DotDot:'\u20dc',doteq:'≐',doteqdot:'≑',
  DotEqual:'≐',dotminus:'∸',dotplus:'∔',dotsquare:'⊡',doublebarwedge:'⌆',DoubleContourIntegral:'∯',DoubleDot:'¨',
  DoubleDownArrow:'⇓',DoubleLeftArrow:'⇐',DoubleLeftRightArrow:'⇔',DoubleLeftTee:'⫤',DoubleLongLeftArrow:'⟸',
  DoubleLongLeftRightArrow:'⟺',DoubleLongRightArrow:'⟹',DoubleRightArrow:'⇒',DoubleRightTee:'⊨',DoubleUpArrow:'⇑',
  DoubleUpDownArrow:'⇕',DoubleVerticalBar:'∥',DownArrow:'↓',Downarrow:'⇓',downarrow:'↓',DownArrowBar:'⤓',
  DownArrowUpArrow:'⇵',DownBreve:'\u0311',downdownarrows:'⇊',downharpoonleft:'⇃',downharpoonright:'⇂',
  DownLeftRightVector:'⥐',DownLeftTeeVector:'⥞',DownLeftVector:'↽',DownLeftVectorBar:'⥖',DownRightTeeVector:'⥟',
  DownRightVector:'⇁',DownRightVectorBar:'⥗',DownTee:'⊤',DownTeeArrow:'↧',drbkarow:'⤐',drcorn:'⌟',drcrop:'⌌',Dscr:'𝒟',
  dscr:'𝒹',DScy:'Ѕ',dscy:'ѕ',dsol:'⧶',Dstrok:'Đ',dstrok:'đ',dtdot:'⋱',dtri:'▿',dtrif:'▾',duarr:'⇵',duhar:'⥯',
  dwangle:'⦦',DZcy:'Џ',dzcy:'џ',dzigrarr:'⟿',Eacute:'É',eacute:'é',easter:'⩮',Ecaron:'Ě',ecaron:'ě',ecir:'≖',
  Ecirc:'Ê',ecirc:'ê',ecolon:'≕',Ecy:'Э',ecy:'э',eDDot:'⩷',Edot:'Ė',eDot:'≑',edot:'ė',ee:'ⅇ',efDot:'≒',Efr:'𝔈',
  efr:'𝔢',eg:'⪚',Egrave:'È',egrave:'è',egs:'⪖',egsdot:'⪘',el:'⪙',Element:'∈',elinters:'⏧',ell:'ℓ',els:'⪕',elsdot:'⪗',
  Emacr:'Ē',emacr:'ē',empty:'∅',emptyset:'∅',EmptySmallSquare:'◻',emptyv:'∅',EmptyVerySmallSquare:'▫',emsp13:'\u2004',
  emsp14:'\u2005',emsp:'\u2003',ENG:'Ŋ',eng:'ŋ',ensp:'\u2002',Eogon:'Ę',eogon:'ę',Eopf:'𝔼',eopf:'𝕖',epar:'⋕',
  eparsl:'⧣',eplus:'⩱',epsi:'ε',Epsilon:'Ε',epsilon:'ε',epsiv:'ϵ',eqcirc:'≖',eqcolon:'≕',eqsim:'≂',eqslantgtr:'⪖',
  eqslantless:'⪕',Equal:'⩵',equals:'=',EqualTilde:'≂',equest:'≟',Equilibrium:'⇌',equiv:'≡',equivDD:'⩸',eqvparsl:'⧥',
  erarr:'⥱',erDot:'≓',Escr:'ℰ',escr:'ℯ',esdot:'≐',Esim:'⩳',esim:'≂',Eta:'Η',eta:'η',ETH:'Ð',eth:'ð',Euml:'Ë',euml:'ë',
  euro:'€',excl:'!',exist:'∃',Exists:'∃',expectation:'ℰ',ExponentialE:'ⅇ',exponentiale:'ⅇ',fallingdotseq:'≒',Fcy:'Ф',
  fcy:'ф',female:'♀',ffilig:'ﬃ',fflig:'ﬀ',ffllig:'ﬄ',Ffr:'𝔉',ffr:'𝔣',filig:'ﬁ',FilledSmallSquare:'◼',
  FilledVerySmallSquare:'▪',fjlig:'fj',flat:'♭',fllig:'ﬂ',fltns:'▱',fnof:'ƒ',Fopf:'𝔽',fopf:'𝕗',ForAll:'∀',forall:'∀',
  fork:'⋔',forkv:'⫙',Fouriertrf:'ℱ',fpartint:'⨍',frac12:'½',frac13:'⅓',frac14:'¼',frac15:'⅕',frac16:'⅙',frac18:'⅛',
  frac23:'⅔',frac25:'⅖',frac34:'¾',frac35:'⅗',frac38:'⅜',frac45:'⅘',frac56:'⅚',frac58:'⅝',frac78:'⅞',frasl:'⁄',
  frown:'⌢',Fscr:'ℱ',fscr:'𝒻',gacute:'ǵ',Gamma:'Γ',gamma:'γ',Gammad:'Ϝ',gammad:'ϝ',gap:'⪆',Gbreve:'Ğ',gbreve:'ğ',
  Gcedil:'Ģ',Gcirc:'Ĝ',gcirc:'ĝ',Gcy:'Г',gcy:'г',Gdot:'Ġ',gdot:'ġ',gE:'≧',ge:'≥',gEl:'⪌',gel:'⋛',geq:'≥',geqq:'≧',
  geqslant:'⩾',ges:'⩾',gescc:'⪩',gesdot:'⪀',gesdoto:'⪂',gesdotol:'⪄',gesl:'⋛\ufe00',gesles:'⪔',Gfr:'𝔊',gfr:'𝔤',Gg:'⋙',
  gg:'≫',ggg:'⋙',gimel:'ℷ',GJcy:'Ѓ',gjcy:'ѓ',gl:'≷',gla:'⪥',glE:'⪒',glj:'⪤',gnap:'⪊',gnapprox:'⪊',gnE:'≩',gne:'⪈',
  gneq:'⪈',gneqq:'≩',gnsim:'⋧',Gopf:'𝔾',gopf:'𝕘',grave:'\u0060',GreaterEqual:'≥',GreaterEqualLess:'⋛',
  GreaterFullEqual:'≧',GreaterGreater:'⪢',GreaterLess:'≷',GreaterSlantEqual:'⩾',GreaterTilde:'≳',Gscr:'𝒢',gscr:'ℊ',
  gsim:'≳',gsime:'⪎',gsiml:'⪐',GT:'>',Gt:'≫',gt:'>',gtcc:'⪧',gtcir:'⩺',gtdot:'⋗',gtlPar:'⦕',gtquest:'⩼',gtrapprox:'⪆',
  gtrarr:'⥸',gtrdot:'⋗',gtreqless:'⋛',gtreqqless:'⪌',gtrless:'≷',gtrsim:'≳',gvertneqq:'≩\ufe00',gvnE:'≩\ufe00',
  Hacek:'ˇ',hairsp:'\u200a',half:'½',hamilt:'ℋ',HARDcy:'Ъ',hardcy:'ъ',hArr:'⇔',harr:'↔',harrcir:'⥈',harrw:'↭',Hat:'^',
  hbar:'ℏ',Hcirc:'Ĥ',hcirc:'ĥ',hearts:'♥',heartsuit:'♥',hellip:'…',hercon:'⊹',Hfr:'ℌ',hfr:'𝔥',HilbertSpace:'ℋ',
  hksearow:'⤥',hkswarow:'⤦',hoarr:'⇿',homtht:'∻',hookleftarrow:'↩',hookrightarrow:'↪',Hopf:'ℍ',hopf:'𝕙',horbar:'―',
  HorizontalLine:'─',Hscr:'ℋ',hscr:'𝒽',hslash:'ℏ',Hstrok:'Ħ',hstrok:'ħ',HumpDownHump:'≎',HumpEqual:'≏',hybull:'⁃',
  hyphen:'‐',Iacute:'Í',iacute:'í',ic:'\u2063',Icirc:'Î',icirc:'î',Icy:'И',icy:'и',Idot:'İ',IEcy:'Е',iecy:'е',
  iexcl:'¡',iff:'⇔',Ifr:'ℑ',ifr:'𝔦',Igrave:'Ì',igrave:'ì',ii:'ⅈ',iiiint:'⨌',iiint:'∭',iinfin:'⧜',iiota:'℩',IJlig:'Ĳ',
  ijlig:'ĳ',Im:'ℑ',Imacr:'Ī',imacr:'ī',image:'ℑ',ImaginaryI:'ⅈ',imagline:'ℐ',imagpart:'ℑ',imath:'ı',imof:'⊷',
  imped:'Ƶ',Implies:'⇒',in:'∈',incare:'℅',infin:'∞',infintie:'⧝',inodot:'ı',Int:'∬',int:'∫',intcal:'⊺',integers:'ℤ',
  Integral:'∫',intercal:'⊺',Intersection:'⋂',intlarhk:'⨗',intprod:'⨼',InvisibleComma:'\u2063',InvisibleTimes:'\u2062',
  IOcy:'Ё',iocy:'ё',Iogon:'Į',iogon:'į',Iopf:'𝕀',iopf:'𝕚',Iota:'Ι',iota:'ι',iprod:'⨼',iquest:'¿',Iscr:'ℐ',iscr:'𝒾',
  isin:'∈',isindot:'⋵',isinE:'⋹',isins:'⋴',isinsv:'⋳',isinv:'∈',it:'\u2062',Itilde:'Ĩ',itilde:'ĩ',Iukcy:'І',iukcy:'і',
  Iuml:'Ï',iuml:'ï',Jcirc:'Ĵ',jcirc:'ĵ',Jcy:'Й',jcy:'й',Jfr:'𝔍',jfr:'𝔧',jmath:'ȷ',Jopf:'𝕁',jopf:'𝕛',Jscr:'𝒥',jscr:'𝒿',
  Jsercy:'Ј',jsercy:'ј',Jukcy:'Є',jukcy:'є',Kappa:'Κ',kappa:'κ',kappav:'ϰ',Kcedil:'Ķ',kcedil:'ķ',Kcy:'К',kcy:'к',
  Kfr:'𝔎',kfr:'𝔨',kgreen:'ĸ',KHcy:'Х',khcy:'х',KJcy:'Ќ',kjcy:'ќ',Kopf:'𝕂',kopf:'𝕜',Kscr:'𝒦',kscr:'𝓀',lAarr:'⇚',
  Lacute:'Ĺ',lacute:'ĺ',laemptyv:'⦴',lagran:'ℒ',Lambda:'Λ',lambda:'λ',Lang:'⟪',lang:'⟨',langd:'⦑',langle:'⟨',lap:'⪅',
  Laplacetrf:'ℒ',laquo:'«',Larr:'↞',lArr:'⇐',larr:'←',larrb:'⇤',larrbfs:'⤟',larrfs:'⤝',larrhk:'↩',larrlp:'↫',
  larrpl:'⤹',larrsim:'⥳',larrtl:'↢',lat:'⪫',lAtail:'⤛',latail:'⤙',late:'⪭',lates:'⪭\ufe00',lBarr:'⤎',lbarr:'⤌',
  lbbrk:'❲',lbrace:'{',lbrack:'[',lbrke:'⦋',lbrksld:'⦏',lbrkslu:'⦍',Lcaron:'Ľ',lcaron:'ľ',Lcedil:'Ļ',lcedil:'ļ',
  lceil:'⌈',lcub:'{',Lcy:'Л',lcy:'л',ldca:'⤶',ldquo:'“',ldquor:'„',ldrdhar:'⥧',ldrushar:'⥋',ldsh:'↲',lE:'≦',le:'≤',
  LeftAngleBracket:'⟨',LeftArrow:'←',Leftarrow:'⇐',leftarrow:'←',LeftArrowBar:'⇤',LeftArrowRightArrow:'⇆',
  leftarrowtail:'↢',LeftCeiling:'⌈',LeftDoubleBracket:'⟦',LeftDownTeeVector:'⥡',LeftDownVector:'⇃',
  LeftDownVectorBar:'⥙',LeftFloor:'⌊',leftharpoondown:'↽',leftharpoonup:'↼',leftleftarrows:'⇇',LeftRightArrow:'↔',
  Leftrightarrow:'⇔',leftrightarrow:'↔',leftrightarrows:'⇆',leftrightharpoons:'⇋',leftrightsquigarrow:'↭',
  LeftRightVector:'⥎',LeftTee:'⊣',LeftTeeArrow:'↤',LeftTeeVector:'⥚',leftthreetimes:'⋋',LeftTriangle:'⊲',
  LeftTriangleBar:'⧏',LeftTriangleEqual:'⊴',LeftUpDownVector:'⥑',LeftUpTeeVector:'⥠',LeftUpVector:'↿',
  LeftUpVectorBar:'⥘',LeftVector:'↼',LeftVectorBar:'⥒',lEg:'⪋',leg:'⋚',leq:'≤',leqq:'≦',leqslant:'⩽',les:'⩽',
  lescc:'⪨',lesdot:'⩿',lesdoto:'⪁',lesdotor:'⪃',lesg:'⋚\ufe00',lesges:'⪓',lessapprox:'⪅',lessdot:'⋖',lesseqgtr:'⋚',
  lesseqqgtr:'⪋',LessEqualGreater:'⋚',LessFullEqual:'≦',LessGreater:'≶',lessgtr:'≶',LessLess:'⪡',lesssim:'≲',
  LessSlantEqual:'⩽',LessTilde:'≲',lfisht:'⥼',lfloor:'⌊',Lfr:'𝔏',lfr:'𝔩',lg:'≶',lgE:'⪑',lHar:'⥢',lhard:'↽',lharu:'↼',
  lharul:'⥪',lhblk:'▄',LJcy:'Љ',ljcy:'љ',Ll:'⋘',ll:'≪',llarr:'⇇',llcorner:'⌞',Lleftarrow:'⇚',llhard:'⥫',lltri:'◺',
  Lmidot:'Ŀ',lmidot:'ŀ',lmoust:'⎰',lmoustache:'⎰',lnap:'⪉',lnapprox:'⪉',lnE:'≨',lne:'⪇',lneq:'⪇',lneqq:'≨',lnsim:'⋦',
  loang:'⟬',loarr:'⇽',lobrk:'⟦',LongLeftArrow:'⟵',Longleftarrow:'⟸',longleftarrow:'⟵',LongLeftRightArrow:'⟷',
  Longleftrightarrow:'⟺',longleftrightarrow:'⟷',longmapsto:'⟼',LongRightArrow:'⟶',Longrightarrow:'⟹',
  longrightarrow:'⟶',looparrowleft:'↫',looparrowright:'↬',lopar:'⦅',Lopf:'𝕃',lopf:'𝕝',loplus:'⨭',lotimes:'⨴',
  lowast:'∗',lowbar:'_',LowerLeftArrow:'↙',LowerRightArrow:'↘',loz:'◊',lozenge:'◊',lozf:'⧫',lpar:'(',lparlt:'⦓',
  lrarr:'⇆',lrcorner:'⌟',lrhar:'⇋',lrhard:'⥭',lrm:'\u200e',lrtri:'⊿',lsaquo:'‹',Lscr:'ℒ',lscr:'𝓁',Lsh:'↰',lsh:'↰',
  lsim:'≲',lsime:'⪍',lsimg:'⪏',lsqb:'[',lsquo:'‘',lsquor:'‚',Lstrok:'Ł',lstrok:'ł',LT:'<',Lt:'≪',lt:'<',ltcc:'⪦',
  ltcir:'⩹',ltdot:'⋖',lthree:'⋋',ltimes:'⋉',ltlarr:'⥶',ltquest:'⩻',ltri:'◃',ltrie:'⊴',ltrif:'◂',ltrPar:'⦖',
  lurdshar:'⥊',luruhar:'⥦',lvertneqq:'≨\ufe00',lvnE:'≨\ufe00',macr:'¯',male:'♂',malt:'✠',maltese:'✠',Map:'⤅',map:'↦',
  mapsto:'↦',mapstodown:'↧',mapstoleft:'↤',mapstoup:'↥',marker:'▮',mcomma:'⨩',Mcy:'М',mcy:'м',mdash:'—',mDDot:'∺',
  measuredangle:'∡',MediumSpace:'\u205f',Mellintrf:'ℳ',Mfr:'𝔐',mfr:'𝔪',mho:'℧',micro:'µ',mid:'∣',midast:'*',
  midcir:'⫰',middot:'·',minus:'−',minusb:'⊟',minusd:'∸',minusdu:'⨪',MinusPlus:'∓',mlcp:'⫛',mldr:'…',mnplus:'∓',
  models:'⊧',Mopf:'𝕄',mopf:'𝕞',mp:'∓',Mscr:'ℳ',mscr:'𝓂',mstpos:'∾',Mu:'Μ',mu:'μ',multimap:'⊸',mumap:'⊸',nabla:'∇',
  Nacute:'Ń',nacute:'ń',nang:'∠\u20d2',nap:'≉',napE:'⩰\u0338',napid:'≋\u0338',napos:'ŉ',napprox:'≉',natur:'♮',
  natural:'♮',naturals:'ℕ',nbsp:'\u00a0',nbump:'≎\u0338',nbumpe:'≏\u0338',ncap:'⩃',Ncaron:'Ň',ncaron:'ň',Ncedil:'Ņ',
  ncedil:'ņ',ncong:'≇',ncongdot:'⩭\u0338',ncup:'⩂',Ncy:'Н',ncy:'н',ndash:'–',ne:'≠',nearhk:'⤤',neArr:'⇗',nearr:'↗',
  nearrow:'↗',nedot:'≐\u0338',NegativeMediumSpace:'\u200b',NegativeThickSpace:'\u200b',NegativeThinSpace:'\u200b',
  NegativeVeryThinSpace:'\u200b',nequiv:'≢',nesear:'⤨',nesim:'≂\u0338',NestedGreaterGreater:'≫',NestedLessLess:'≪',
  NewLine:'\u000a',nexist:'∄',nexists:'∄',Nfr:'𝔑',nfr:'𝔫',ngE:'≧\u0338',nge:'≱',ngeq:'≱',ngeqq:'≧\u0338',
  ngeqslant:'⩾\u0338',nges:'⩾\u0338',nGg:'⋙\u0338',ngsim:'≵',nGt:'≫\u20d2',ngt:'≯',ngtr:'≯',nGtv:'≫\u0338',nhArr:'⇎',
  nharr:'↮',nhpar:'⫲',ni:'∋',nis:'⋼',nisd:'⋺',niv:'∋',NJcy:'Њ',njcy:'њ',nlArr:'⇍',nlarr:'↚',nldr:'‥',nlE:'≦\u0338',
  nle:'≰',nLeftarrow:'⇍',nleftarrow:'↚',nLeftrightarrow:'⇎',nleftrightarrow:'↮',nleq:'≰',nleqq:'≦\u0338',
  nleqslant:'⩽\u0338',nles:'⩽\u0338',nless:'≮',nLl:'⋘\u0338',nlsim:'≴',nLt:'≪\u20d2',nlt:'≮',nltri:'⋪',nltrie:'⋬',
  nLtv:'≪\u0338',nmid:'∤',NoBreak:'\u2060',NonBreakingSpace:'\u00a0',Nopf:'ℕ',nopf:'𝕟',Not:'⫬',not:'¬',
  NotCongruent:'≢',NotCupCap:'≭',NotDoubleVerticalBar:'∦',NotElement:'∉',NotEqual:'≠',NotEqualTilde:'≂\u0338',
  NotExists:'∄',NotGreater:'≯',NotGreaterEqual:'≱',NotGreaterFullEqual:'≧\u0338',NotGreaterGreater:'≫\u0338',
  NotGreaterLess:'≹',NotGreaterSlantEqual:'⩾\u0338',NotGreaterTilde:'≵',NotHumpDownHump:'≎\u0338',
  NotHumpEqual:'≏\u0338',notin:'∉',notindot:'⋵\u0338',notinE:'⋹\u0338',notinva:'∉',notinvb:'⋷',notinvc:'⋶',
  NotLeftTriangle:'⋪',NotLeftTriangleBar:'⧏\u0338',NotLeftTriangleEqual:'⋬',NotLess:'≮',NotLessEqual:'≰',
  NotLessGreater:'≸',NotLessLess:'≪\u0338',NotLessSlantEqual:'⩽\u0338',NotLessTilde:'≴',
  NotNestedGreaterGreater:'⪢\u0338',NotNestedLessLess:'⪡\u0338',notni:'∌',notniva:'∌',notnivb:'⋾',notnivc:'⋽',
  NotPrecedes:'⊀',NotPrecedesEqual:'⪯\u0338',NotPrecedesSlantEqual:'⋠',NotReverseElement:'∌',NotRightTriangle:'⋫',
  NotRightTriangleBar:'⧐\u0338',NotRightTriangleEqual:'⋭',NotSquareSubset:'⊏\u0338',NotSquareSubsetEqual:'⋢',
  NotSquareSuperset:'⊐\u0338',NotSquareSupersetEqual:'⋣',NotSubset:'⊂\u20d2',NotSubsetEqual:'⊈',NotSucceeds:'⊁',
  NotSucceedsEqual:'⪰\u0338',NotSucceedsSlantEqual:'⋡',NotSucceedsTilde:'≿\u0338',NotSuperset:'⊃\u20d2',
  NotSupersetEqual:'⊉',NotTilde:'≁',NotTildeEqual:'≄',NotTildeFullEqual:'≇',NotTildeTilde:'≉',NotVerticalBar:'∤',
  npar:'∦',nparallel:'∦',nparsl:'⫽\u20e5',npart:'∂\u0338',npolint:'⨔',npr:'⊀',nprcue:'⋠',npre:'⪯\u0338',nprec:'⊀',
  npreceq:'⪯\u0338',nrArr:'⇏',nrarr:'↛',nrarrc:'⤳\u0338',nrarrw:'↝\u0338',nRightarrow:'⇏',nrightarrow:'↛',nrtri:'⋫',
  nrtrie:'⋭',nsc:'⊁',nsccue:'⋡',nsce:'⪰\u0338',Nscr:'𝒩',nscr:'𝓃',nshortmid:'∤',nshortparallel:'∦',nsim:'≁',nsime:'≄',
  nsimeq:'≄',nsmid:'∤',nspar:'∦',nsqsube:'⋢',nsqsupe:'⋣',nsub:'⊄',nsubE:'⫅\u0338',nsube:'⊈',nsubset:'⊂\u20d2',
  nsubseteq:'⊈',nsubseteqq:'⫅\u0338',nsucc:'⊁',nsucceq:'⪰\u0338',nsup:'⊅',nsupE:'⫆\u0338',nsupe:'⊉',nsupset:'⊃\u20d2',
  nsupseteq:'⊉',nsupseteqq:'⫆\u0338',ntgl:'≹',Ntilde:'Ñ',ntilde:'ñ',ntlg:'≸',ntriangleleft:'⋪',ntrianglelefteq:'⋬',
  ntriangleright:'⋫',ntrianglerighteq:'⋭',Nu:'Ν',nu:'ν',num:'#',numero:'№',numsp:'\u2007',nvap:'≍\u20d2',nVDash:'⊯',
  nVdash:'⊮',nvDash:'⊭',nvdash:'⊬',nvge:'≥\u20d2',nvgt:'>\u20d2',nvHarr:'⤄',nvinfin:'⧞',nvlArr:'⤂',nvle:'≤\u20d2',
  nvlt:'<\u20d2',nvltrie:'⊴\u20d2',nvrArr:'⤃',nvrtrie:'⊵\u20d2',nvsim:'∼\u20d2',nwarhk:'⤣',nwArr:'⇖',nwarr:'↖',
  nwarrow:'↖',nwnear:'⤧',Oacute:'Ó',oacute:'ó',oast:'⊛',ocir:'⊚',Ocirc:'Ô',ocirc:'ô',Ocy:'О',ocy:'о',odash:'⊝',
  Odblac:'Ő',odblac:'ő',odiv:'⨸',odot:'⊙',odsold:'⦼',OElig:'Œ',oelig:'œ',ofcir:'⦿',Ofr:'𝔒',ofr:'𝔬',ogon:'˛',
  Ograve:'Ò',ograve:'ò',ogt:'⧁',ohbar:'⦵',ohm:'Ω',oint:'∮',olarr:'↺',olcir:'⦾',olcross:'⦻',oline:'‾',olt:'⧀',
  Omacr:'Ō',omacr:'ō',Omega:'Ω',omega:'ω',Omicron:'Ο',omicron:'ο',omid:'⦶',ominus:'⊖',Oopf:'𝕆',oopf:'𝕠',opar:'⦷',
  OpenCurlyDoubleQuote:'“',OpenCurlyQuote:'‘',operp:'⦹',oplus:'⊕',Or:'⩔',or:'∨',orarr:'↻',ord:'⩝',order:'ℴ',
  orderof:'ℴ',ordf:'ª',ordm:'º',origof:'⊶',oror:'⩖',orslope:'⩗',orv:'⩛',oS:'Ⓢ',Oscr:'𝒪',oscr:'ℴ',Oslash:'Ø',
  oslash:'ø',osol:'⊘',Otilde:'Õ',otilde:'õ',Otimes:'⨷',otimes:'⊗',otimesas:'⨶',Ouml:'Ö',ouml:'ö',ovbar:'⌽',
  OverBar:'‾',OverBrace:'⏞',OverBracket:'⎴',OverParenthesis:'⏜',par:'∥',para:'¶',parallel:'∥',parsim:'⫳',parsl:'⫽',
  part:'∂',PartialD:'∂',Pcy:'П',pcy:'п',percnt:'%',period:'.',permil:'‰',perp:'⊥',pertenk:'‱',Pfr:'𝔓',pfr:'𝔭',Phi:'Φ',
  phi:'φ',phiv:'ϕ',phmmat:'ℳ',phone:'☎',Pi:'Π',pi:'π',pitchfork:'⋔',piv:'ϖ',planck:'ℏ',planckh:'ℎ',plankv:'ℏ',
  plus:'+',plusacir:'⨣',plusb:'⊞',pluscir:'⨢',plusdo:'∔',plusdu:'⨥',pluse:'⩲',PlusMinus:'±',plusmn:'±',plussim:'⨦',
  plustwo:'⨧',pm:'±',Poincareplane:'ℌ',pointint:'⨕',Popf:'ℙ',popf:'𝕡',pound:'£',Pr:'⪻',pr:'≺',prap:'⪷',prcue:'≼',
  prE:'⪳',pre:'⪯',prec:'≺',precapprox:'⪷',preccurlyeq:'≼',Precedes:'≺',PrecedesEqual:'⪯',PrecedesSlantEqual:'≼',
  PrecedesTilde:'≾',preceq:'⪯',precnapprox:'⪹',precneqq:'⪵',precnsim:'⋨',precsim:'≾',Prime:'″',prime:'′',primes:'ℙ',
  prnap:'⪹',prnE:'⪵',prnsim:'⋨',prod:'∏',Product:'∏',profalar:'⌮',profline:'⌒',profsurf:'⌓',prop:'∝',Proportion:'∷',
  Proportional:'∝',propto:'∝',prsim:'≾',prurel:'⊰',Pscr:'𝒫',pscr:'𝓅',Psi:'Ψ',psi:'ψ',puncsp:'\u2008',Qfr:'𝔔',qfr:'𝔮',
  qint:'⨌',Qopf:'ℚ',qopf:'𝕢',qprime:'⁗',Qscr:'𝒬',qscr:'𝓆',quaternions:'ℍ',quatint:'⨖',quest:'?',questeq:'≟',QUOT:'"',
  quot:'"',rAarr:'⇛',race:'∽\u0331',Racute:'Ŕ',racute:'ŕ',radic:'√',raemptyv:'⦳',Rang:'⟫',rang:'⟩',rangd:'⦒',
  range:'⦥',rangle:'⟩',raquo:'»',Rarr:'↠',rArr:'⇒',rarr:'→',rarrap:'⥵',rarrb:'⇥',rarrbfs:'⤠',rarrc:'⤳',rarrfs:'⤞',
  rarrhk:'↪',rarrlp:'↬',rarrpl:'⥅',rarrsim:'⥴',Rarrtl:'⤖',rarrtl:'↣',rarrw:'↝',rAtail:'⤜',ratail:'⤚',ratio:'∶',
  rationals:'ℚ',RBarr:'⤐',rBarr:'⤏',rbarr:'⤍',rbbrk:'❳',rbrace:'}',rbrack:']',rbrke:'⦌',rbrksld:'⦎',rbrkslu:'⦐',
  Rcaron:'Ř',rcaron:'ř',Rcedil:'Ŗ',rcedil:'ŗ',rceil:'⌉',rcub:'}',Rcy:'Р',rcy:'р',rdca:'⤷',rdldhar:'⥩',rdquo:'”',
  rdquor:'”',rdsh:'↳',Re:'ℜ',real:'ℜ',realine:'ℛ',realpart:'ℜ',reals:'ℝ',rect:'▭',REG:'®',reg:'®',ReverseElement:'∋',
  ReverseEquilibrium:'⇋',ReverseUpEquilibrium:'⥯',rfisht:'⥽',rfloor:'⌋',Rfr:'ℜ',rfr:'𝔯',rHar:'⥤',rhard:'⇁',rharu:'⇀',
  rharul:'⥬',Rho:'Ρ',rho:'ρ',rhov:'ϱ',RightAngleBracket:'⟩',RightArrow:'→',Rightarrow:'⇒',rightarrow:'→',
  RightArrowBar:'⇥',RightArrowLeftArrow:'⇄',rightarrowtail:'↣',RightCeiling:'⌉',RightDoubleBracket:'⟧',
  RightDownTeeVector:'⥝',RightDownVector:'⇂',RightDownVectorBar:'⥕',RightFloor:'⌋',rightharpoondown:'⇁',
  rightharpoonup:'⇀',rightleftarrows:'⇄',rightleftharpoons:'⇌',rightrightarrows:'⇉',rightsquigarrow:'↝',RightTee:'⊢',
  RightTeeArrow:'↦',RightTeeVector:'⥛',rightthreetimes:'⋌',RightTriangle:'⊳',RightTriangleBar:'⧐',
  RightTriangleEqual:'⊵',RightUpDownVector:'⥏',RightUpTeeVector:'⥜',RightUpVector:'↾',RightUpVectorBar:'⥔',
  RightVector:'⇀',RightVectorBar:'⥓',ring:'˚',risingdotseq:'≓',rlarr:'⇄',rlhar:'⇌',rlm:'\u200f',rmoust:'⎱',
  rmoustache:'⎱',rnmid:'⫮',roang:'⟭',roarr:'⇾',robrk:'⟧',ropar:'⦆',Ropf:'ℝ',ropf:'𝕣',roplus:'⨮',rotimes:'⨵',
  RoundImplies:'⥰',rpar:')',rpargt:'⦔',rppolint:'⨒',rrarr:'⇉',Rrightarrow:'⇛',rsaquo:'›',Rscr:'ℛ',rscr:'𝓇',Rsh:'↱',
  rsh:'↱',rsqb:']',rsquo:'’',rsquor:'’',rthree:'⋌',rtimes:'⋊',rtri:'▹',rtrie:'⊵',rtrif:'▸',rtriltri:'⧎',
  RuleDelayed:'⧴',ruluhar:'⥨',rx:'℞',Sacute:'Ś',sacute:'ś',sbquo:'‚',Sc:'⪼',sc:'≻',scap:'⪸',Scaron:'Š',scaron:'š',
  sccue:'≽',scE:'⪴',sce:'⪰',Scedil:'Ş',scedil:'ş',Scirc:'Ŝ',scirc:'ŝ',scnap:'⪺',scnE:'⪶',scnsim:'⋩',scpolint:'⨓',
  scsim:'≿',Scy:'С',scy:'с',sdot:'⋅',sdotb:'⊡',sdote:'⩦',searhk:'⤥',seArr:'⇘',searr:'↘',searrow:'↘',sect:'§',semi:';',
  seswar:'⤩',setminus:'∖',setmn:'∖',sext:'✶',Sfr:'𝔖',sfr:'𝔰',sfrown:'⌢',sharp:'♯',SHCHcy:'Щ',shchcy:'щ',SHcy:'Ш',
  shcy:'ш',ShortDownArrow:'↓',ShortLeftArrow:'←',shortmid:'∣',shortparallel:'∥',ShortRightArrow:'→',ShortUpArrow:'↑',
  shy:'\u00ad',Sigma:'Σ',sigma:'σ',sigmaf:'ς',sigmav:'ς',sim:'∼',simdot:'⩪',sime:'≃',simeq:'≃',simg:'⪞',simgE:'⪠',
  siml:'⪝',simlE:'⪟',simne:'≆',simplus:'⨤',simrarr:'⥲',slarr:'←',SmallCircle:'∘',smallsetminus:'∖',smashp:'⨳',
  smeparsl:'⧤',smid:'∣',smile:'⌣',smt:'⪪',smte:'⪬',smtes:'⪬\ufe00',SOFTcy:'Ь',softcy:'ь',sol:'/',solb:'⧄',solbar:'⌿',
  Sopf:'𝕊',sopf:'𝕤',spades:'♠',spadesuit:'♠',spar:'∥',sqcap:'⊓',sqcaps:'⊓\ufe00',sqcup:'⊔',sqcups:'⊔\ufe00',Sqrt:'√',
  sqsub:'⊏',sqsube:'⊑',sqsubset:'⊏',sqsubseteq:'⊑',sqsup:'⊐',sqsupe:'⊒',sqsupset:'⊐',sqsupseteq:'⊒',squ:'□',
  Square:'□',square:'□',SquareIntersection:'⊓',SquareSubset:'⊏',SquareSubsetEqual:'⊑',SquareSuperset:'⊐',
  SquareSupersetEqual:'⊒',SquareUnion:'⊔',squarf:'▪',squf:'▪',srarr:'→',Sscr:'𝒮',sscr:'𝓈',ssetmn:'∖',ssmile:'⌣',
  sstarf:'⋆',Star:'⋆',star:'☆',starf:'★',straightepsilon:'ϵ',straightphi:'ϕ',strns:'¯',Sub:'⋐',sub:'⊂',subdot:'⪽',
  subE:'⫅',sube:'⊆',subedot:'⫃',submult:'⫁',subnE:'⫋',subne:'⊊',subplus:'⪿',subrarr:'⥹',Subset:'⋐',subset:'⊂',
  subseteq:'⊆',subseteqq:'⫅',SubsetEqual:'⊆',subsetneq:'⊊',subsetneqq:'⫋',subsim:'⫇',subsub:'⫕',subsup:'⫓',succ:'≻',
  succapprox:'⪸',succcurlyeq:'≽',Succeeds:'≻',SucceedsEqual:'⪰',SucceedsSlantEqual:'≽',SucceedsTilde:'≿',succeq:'⪰',
  succnapprox:'⪺',succneqq:'⪶',succnsim:'⋩',succsim:'≿',SuchThat:'∋',Sum:'∑',sum:'∑',sung:'♪',sup1:'¹',sup2:'²',
  sup3:'³',Sup:'⋑',sup:'⊃',supdot:'⪾',supdsub:'⫘',supE:'⫆',supe:'⊇',supedot:'⫄',Superset:'⊃',SupersetEqual:'⊇',
  suphsol:'⟉',suphsub:'⫗',suplarr:'⥻',supmult:'⫂',supnE:'⫌',supne:'⊋',supplus:'⫀',Supset:'⋑',supset:'⊃',supseteq:'⊇',
  supseteqq:'⫆',supsetneq:'⊋',supsetneqq:'⫌',supsim:'⫈',supsub:'⫔',supsup:'⫖',swarhk:'⤦',swArr:'⇙',swarr:'↙',
  swarrow:'↙',swnwar:'⤪',szlig:'ß',Tab:'\u0009',target:'⌖',Tau:'Τ',tau:'τ',tbrk:'⎴',Tcaron:'Ť',tcaron:'ť',Tcedil:'Ţ',
  tcedil:'ţ',Tcy:'Т',tcy:'т',tdot:'\u20db',telrec:'⌕',Tfr:'𝔗',tfr:'𝔱',there4:'∴',Therefore:'∴',therefore:'∴',
  Theta:'Θ',theta:'θ',thetasym:'ϑ',thetav:'ϑ',thickapprox:'≈',thicksim:'∼',ThickSpace:'\u205f\u200a',thinsp:'\u2009',
  ThinSpace:'\u2009',thkap:'≈',thksim:'∼',THORN:'Þ',thorn:'þ',Tilde:'∼',tilde:'˜',TildeEqual:'≃',TildeFullEqual:'≅',
  TildeTilde:'≈',times:'×',timesb:'⊠',timesbar:'⨱',timesd:'⨰',tint:'∭',toea:'⤨',top:'⊤',topbot:'⌶',topcir:'⫱',
  Topf:'𝕋',topf:'𝕥',topfork:'⫚',tosa:'⤩',tprime:'‴',TRADE:'™',trade:'™',triangle:'▵',triangledown:'▿',
  triangleleft:'◃',trianglelefteq:'⊴',triangleq:'≜',triangleright:'▹',trianglerighteq:'⊵',tridot:'◬',trie:'≜',
  triminus:'⨺',TripleDot:'\u20db',triplus:'⨹',trisb:'⧍',tritime:'⨻',trpezium:'⏢',Tscr:'𝒯',tscr:'𝓉',TScy:'Ц',tscy:'ц',
  TSHcy:'Ћ',tshcy:'ћ',Tstrok:'Ŧ',tstrok:'ŧ',twixt:'≬',twoheadleftarrow:'↞',twoheadrightarrow:'↠',Uacute:'Ú',
  uacute:'ú',Uarr:'↟',uArr:'⇑',uarr:'↑',Uarrocir:'⥉',Ubrcy:'Ў',ubrcy:'ў',Ubreve:'Ŭ',ubreve:'ŭ',Ucirc:'Û',ucirc:'û',
  Ucy:'У',ucy:'у',udarr:'⇅',Udblac:'Ű',udblac:'ű',udhar:'⥮',ufisht:'⥾',Ufr:'𝔘',ufr:'𝔲',Ugrave:'Ù',ugrave:'ù',uHar:'⥣',
  uharl:'↿',uharr:'↾',uhblk:'▀',ulcorn:'⌜',ulcorner:'⌜',ulcrop:'⌏',ultri:'◸',Umacr:'Ū',umacr:'ū',uml:'¨',UnderBar:'_',
  UnderBrace:'⏟',UnderBracket:'⎵',UnderParenthesis:'⏝',Union:'⋃',UnionPlus:'⊎',Uogon:'Ų',uogon:'ų',Uopf:'𝕌',uopf:'𝕦',
  UpArrow:'↑',Uparrow:'⇑',uparrow:'↑',UpArrowBar:'⤒',UpArrowDownArrow:'⇅',UpDownArrow:'↕',Updownarrow:'⇕',
  updownarrow:'↕',UpEquilibrium:'⥮',upharpoonleft:'↿',upharpoonright:'↾',uplus:'⊎',UpperLeftArrow:'↖',
  UpperRightArrow:'↗',Upsi:'ϒ',upsi:'υ',upsih:'ϒ',Upsilon:'Υ',upsilon:'υ',UpTee:'⊥',UpTeeArrow:'↥',upuparrows:'⇈',
  urcorn:'⌝',urcorner:'⌝',urcrop:'⌎',Uring:'Ů',uring:'ů',urtri:'◹',Uscr:'𝒰',uscr:'𝓊',utdot:'⋰',Utilde:'Ũ',utilde:'ũ',
  utri:'▵',utrif:'▴',uuarr:'⇈',Uuml:'Ü',uuml:'ü',uwangle:'⦧',vangrt:'⦜',varepsilon:'ϵ',varkappa:'ϰ',varnothing:'∅',
  varphi:'ϕ',varpi:'ϖ',varpropto:'∝',vArr:'⇕',varr:'↕',varrho:'ϱ',varsigma:'ς',varsubsetneq:'⊊\ufe00',
  varsubsetneqq:'⫋\ufe00',varsupsetneq:'⊋\ufe00',varsupsetneqq:'⫌\ufe00',vartheta:'ϑ',vartriangleleft:'⊲',
  vartriangleright:'⊳',Vbar:'⫫',vBar:'⫨',vBarv:'⫩',Vcy:'В',vcy:'в',VDash:'⊫',Vdash:'⊩',vDash:'⊨',vdash:'⊢',Vdashl:'⫦',
  Vee:'⋁',vee:'∨',veebar:'⊻',veeeq:'≚',vellip:'⋮',Verbar:'‖',verbar:'|',Vert:'‖',vert:'|',VerticalBar:'∣',
  VerticalLine:'|',VerticalSeparator:'❘',VerticalTilde:'≀',VeryThinSpace:'\u200a',Vfr:'𝔙',vfr:'𝔳',vltri:'⊲',
  vnsub:'⊂\u20d2',vnsup:'⊃\u20d2',Vopf:'𝕍',vopf:'𝕧',vprop:'∝',vrtri:'⊳',Vscr:'𝒱',vscr:'𝓋',vsubnE:'⫋\ufe00',
  vsubne:'⊊\ufe00',vsupnE:'⫌\ufe00',vsupne:'⊋\ufe00',Vvdash:'⊪',vzigzag:'⦚',Wcirc:'Ŵ',wcirc:'ŵ',wedbar:'⩟',Wedge:'⋀',
  wedge:'∧',wedgeq:'≙',weierp:'℘',Wfr:'𝔚',wfr:'𝔴',Wopf:'𝕎',wopf:'𝕨',wp:'℘',wr:'≀',wreath:'≀',Wscr:'𝒲',wscr:'𝓌',
  xcap:'⋂',xcirc:'◯',xcup:'⋃',xdtri:'▽',Xfr:'𝔛',xfr:'𝔵',xhArr:'⟺',xharr:'⟷',Xi:'Ξ',xi:'ξ',xlArr:'⟸',xlarr:'⟵',
  xmap:'⟼',xnis:'⋻',xodot:'⨀',Xopf:'𝕏',xopf:'𝕩',xoplus:'⨁',xotime:'⨂',xrArr:'⟹',xrarr:'⟶',Xscr:'𝒳',xscr:'𝓍',
  xsqcup:'⨆',xuplus:'⨄',xutri:'△',xvee:'⋁',xwedge:'⋀',Yacute:'Ý',yacute:'ý',YAcy:'Я',yacy:'я',Ycirc:'Ŷ',ycirc:'ŷ',
  Ycy:'Ы',ycy:'ы',yen:'¥',Yfr:'𝔜',yfr:'𝔶',YIcy:'Ї',yicy:'ї',Yopf:'𝕐',yopf:'𝕪',Yscr:'𝒴',yscr:'𝓎',YUcy:'Ю',yucy:'ю',
  Yuml:'Ÿ',yuml:'ÿ',Zacute:'Ź',zacute:'ź',Zcaron:'Ž',zcaron:'ž',Zcy:'З',zcy:'з',Zdot:'Ż',zdot:'ż',zeetrf:'ℨ',
  ZeroWidthSpace:'\u200b',Zeta:'Ζ',zeta:'ζ',Zfr:'ℨ',zfr:'𝔷',ZHcy:'Ж',zhcy:'ж',zigrarr:'⇝',Zopf:'ℤ',zopf:'𝕫',Zscr:'𝒵',
  zscr:'𝓏',zwj:'\u200d',zwnj:'\u200c',
};
const HTML5_LEGACY_NAMES = (
  'Aacute aacute Acirc acirc acute AElig aelig Agrave agrave AMP amp Aring aring Atilde atilde Auml auml brvbar ' +
  'Ccedil ccedil cedil cent COPY copy curren deg divide Eacute eacute Ecirc ecirc Egrave egrave ETH eth Euml ' +
  'euml frac12 frac14 frac34 GT gt Iacute iacute Icirc icirc iexcl Igrave igrave iquest Iuml iuml laquo LT lt ' +
  'macr micro middot nbsp not Ntilde ntilde Oacute oacute Ocirc ocirc Ograve ograve ordf ordm Oslash oslash ' +
  'Otilde otilde Ouml ouml para plusmn pound QUOT quot raquo REG reg sect shy sup1 sup2 sup3 szlig THORN thorn ' +
  'times Uacute uacute Ucirc ucirc Ugrave ugrave uml Uuml uuml Yacute yacute yen yuml '
).trim().split(' ');
