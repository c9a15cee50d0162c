/**
 * CLIP's text cleanup, as openai/CLIP simple_tokenizer does it: ftfy.fix_text, html.unescape
 * twice, strip, whitespace collapse, lowercase. ftfy is Python-only, so `fixText` reproduces its
 * deterministic fixers (quotes, ligatures, character width, control characters, NFC, ...) but not
 * its mojibake repair; `htmlUnescape` is Python's html.unescape, exactly.
 */
import { HTML5_ENTITIES, HTML5_LEGACY_NAMES } from './html-entities';

/**
 * The `regex` module's \s, which whitespace_clean collapses and the pre-tokenizer excludes (JS's \s
 * differs: it lacks U+0085 and has U+FEFF).
 */
export const RE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RE = new RegExp(`[${RE_SPACE}]+`, 'g');

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
export function cleanText(text: string): string {
  const basic = pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
  return pyStrip(basic.replace(WHITESPACE_RE, ' ')).toLowerCase();
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
