import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIPTokenizer, loadClipTokenizer } from '../lib/tokenizers/clip';

const BOS = 49406;
const EOS = 49407;

// Ids recorded from openai/CLIP's simple_tokenizer.py.
const golden: { cases: { text: string; ids: number[] }[] } = JSON.parse(
  readFileSync(join(__dirname, 'fixtures', 'clip-tokens.json'), 'utf8'),
);

// Token ids (without <|startoftext|>/<|endoftext|>) printed by openai/CLIP simple_tokenizer.py itself,
// run with ftfy 6.3.1 and regex 2026.5.9 on Python 3.11: cases the golden file does not cover.
const reference: [string, number[]][] = [
  ['café naïve', [15304, 1097, 35689, 563]],
  ['cafe\u0301 nai\u0308ve', [15304, 1097, 35689, 563]], // decomposed accents: ftfy normalizes to NFC
  ['日本語のテキスト', [39121, 44353, 34002, 252, 21575, 2429, 228, 47121, 32421, 486]],
  ['🐱🔥', [35710, 3016]],
  ['a cat 猫 Katze кот', [320, 2368, 163, 234, 360, 2844, 1298, 27152, 13506, 141, 480]],
  ['!!!', [995]],
  ['...', [678]],
  ['a,b;c', [320, 267, 321, 282, 322]],
  ['1024', [272, 271, 273, 275]],
  ["it's don't", [585, 568, 847, 713]],
  ['it’s “quoted”', [585, 568, 257, 27706, 257]], // ftfy uncurls quotes
  ['ＬＯＵＤ　ＮＯＩＳＥＳ', [7464, 31575]], // ftfy folds fullwidth forms
  ['ﬂuﬃeﬆ', [3698, 19961, 1509]], // ftfy splits Latin ligatures
  ['&amp;amp; &lt;3 &notit;', [261, 283, 274, 126, 361, 585, 282]], // ftfy + html.unescape twice
  ['<|startoftext|>hi<|endoftext|>', [BOS, 1883, EOS]],
  ['(masterpiece:1.2), <lora:x:0.8>', [263, 12066, 281, 272, 269, 273, 2361, 283, 2179, 320, 281, 343, 281, 271, 269, 279, 285]],
];

let tok: CLIPTokenizer;
beforeAll(async () => {
  tok = await loadClipTokenizer();
});

describe('CLIPTokenizer ids', () => {
  it.each(golden.cases.map((c) => [c.text, c.ids] as const))('golden: %j', (text, ids) => {
    expect(tok.encode(text)).toEqual(ids);
  });

  it.each(reference)('reference: %j', (text, ids) => {
    expect(tok.encode(text)).toEqual([BOS, ...ids, EOS]);
  });

  it('exposes the SD1.5 special ids and sizes', () => {
    expect(tok.vocabSize).toBe(49408);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.modelMaxLength]).toEqual([BOS, EOS, EOS, 77]);
  });

  it('encodes the empty and blank prompt as start and end only', () => {
    expect(tok.encode('')).toEqual([BOS, EOS]);
    expect(tok.encode(' \t\n\u3000 ')).toEqual([BOS, EOS]);
  });

  it('gives each digit its own token', () => {
    const ids = tok.encode('1024').slice(1, -1);
    expect(ids).toEqual(['1', '0', '2', '4'].map((d) => tok.encode(d)[1]));
    expect(tok.tokenize('1024')).toEqual(['1</w>', '0</w>', '2</w>', '4</w>']);
  });

  it('splits contractions and keeps punctuation runs together', () => {
    expect(tok.tokenize("it's")).toEqual(['it</w>', "'s</w>"]);
    expect(tok.tokenize("don't")).toEqual(['don</w>', "'t</w>"]);
    expect(tok.tokenize('wow!!! ok...')).toEqual(['wow</w>', '!!!</w>', 'ok</w>', '...</w>']);
    expect(tok.tokenize('a,b;c')).toEqual(['a</w>', ',</w>', 'b</w>', ';</w>', 'c</w>']);
  });

  it('ignores case and collapses whitespace', () => {
    const plain = tok.encode('a red ball on the beach');
    expect(tok.encode('A RED Ball ON the BEACH')).toEqual(plain);
    expect(tok.encode('  a\tred\n\nball   on\r\nthe\u00a0beach  ')).toEqual(plain);
  });

  it('treats equivalent unicode spellings alike', () => {
    expect(tok.encode('cafe\u0301')).toEqual(tok.encode('café'));
    expect(tok.encode('ｈｅｌｌｏ，ｗｏｒｌｄ')).toEqual(tok.encode('hello,world'));
    expect(tok.encode('&lt;b&gt; &amp; &#39;x&#x27;')).toEqual(tok.encode("<b> & 'x'"));
  });

  it('turns a literal special token in the text into its id', () => {
    expect(tok.encode('<|endoftext|>')).toEqual([BOS, EOS, EOS]);
    expect(tok.tokenize('x<|startoftext|>')).toEqual(['x</w>', '<|startoftext|>']);
  });

  it('reuses its word cache without changing results', () => {
    const text = 'a photo of a photo of a cat, a cat';
    expect(tok.encode(text)).toEqual(tok.encode(text));
    expect(tok.encode(text)).toEqual([BOS, 320, 1125, 539, 320, 1125, 539, 320, 2368, 267, 320, 2368, EOS]);
  });

  it('rejects non-string input', () => {
    expect(() => tok.encode(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('CLIPTokenizer.decode', () => {
  it('round-trips plain ASCII as CLIP does (a space after every word)', () => {
    const ids = tok.encode('a photo of a cat');
    expect(tok.decode(ids)).toBe('<|startoftext|>a photo of a cat <|endoftext|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('a photo of a cat ');
    const sentence = 'the quick brown fox jumps over the lazy dog';
    expect(tok.decode(tok.encode(sentence), { skipSpecialTokens: true }).trim()).toBe(sentence);
  });

  it('round-trips UTF-8 across byte-level tokens', () => {
    for (const text of ['日本語のテキスト', '🐱🔥', 'naïve café', 'привет мир']) {
      expect(tok.decode(tok.encode(text), { skipSpecialTokens: true })).toBe(`${text} `);
    }
  });

  it('replaces an incomplete UTF-8 sequence and rejects unknown ids', () => {
    // 34002 is 'èª', two of the three UTF-8 bytes of 語 (see the reference case above).
    expect(tok.decode([34002])).toBe('\ufffd');
    expect(() => tok.decode([49408])).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(RangeError);
  });
});

describe('CLIPTokenizer.encodeForModel', () => {
  const longText = Array.from({ length: 100 }, (_, i) => ['red', 'cat', 'blue', 'dog', 'green', 'bird'][i % 6]).join(' ');

  it('pads to 77 with <|endoftext|>', () => {
    const { inputIds, truncatedText } = tok.encodeForModel('a photo of a cat');
    expect(inputIds).toHaveLength(1);
    expect(inputIds[0]).toHaveLength(77);
    expect(inputIds[0].slice(0, 7)).toEqual(golden.cases[0].ids);
    expect(inputIds[0].slice(7).every((id) => id === EOS)).toBe(true);
    expect(truncatedText).toEqual([null]);
  });

  it('encodes a batch and can skip padding', () => {
    const { inputIds } = tok.encodeForModel(['a photo of a cat', ''], { padding: 'none' });
    expect(inputIds).toEqual([golden.cases[0].ids, [BOS, EOS]]);
  });

  it('truncates to start + 75 tokens + end and warns with the dropped text', () => {
    const warnings: string[] = [];
    const tokens = tok.encode(longText).slice(1, -1);
    expect(tokens.length).toBeGreaterThan(75);
    const { inputIds, truncatedText } = tok.encodeForModel(longText, { onWarning: (m) => warnings.push(m) });
    expect(inputIds[0]).toEqual([BOS, ...tokens.slice(0, 75), EOS]);
    const dropped = tok.decode(tokens.slice(75)).trim();
    expect(dropped.length).toBeGreaterThan(0);
    expect(truncatedText).toEqual([dropped]);
    expect(longText.endsWith(dropped)).toBe(true);
    expect(warnings).toEqual([
      `The following part of your input was truncated because CLIP can only handle sequences up to 77 tokens: ${dropped}`,
    ]);
  });

  it('keeps every token when truncation is off, and checks its options', () => {
    const { inputIds } = tok.encodeForModel(longText, { truncation: false, onWarning: () => {} });
    expect(inputIds[0]).toEqual(tok.encode(longText));
    expect(() => tok.encodeForModel('x', { maxLength: 1 })).toThrow(RangeError);
    expect(() => tok.encodeForModel('x', { padding: 'longest' as 'none' })).toThrow(TypeError);
  });
});

describe('CLIPTokenizer.encodeLong', () => {
  it('splits long prompts into padded windows of 75 tokens', () => {
    const text = Array.from({ length: 200 }, (_, i) => `cat${i % 7}`).join(', ');
    const tokens = tok.encode(text).slice(1, -1);
    const rows = tok.encodeLong(text);
    expect(rows).toHaveLength(Math.ceil(tokens.length / 75));
    for (const row of rows) {
      expect(row).toHaveLength(77);
      expect(row[0]).toBe(BOS);
    }
    const content = rows.flatMap((row) => {
      const end = row.indexOf(EOS, 1);
      expect(row.slice(end).every((id) => id === EOS)).toBe(true);
      return row.slice(1, end);
    });
    expect(content).toEqual(tokens);
    expect(rows[0]).toEqual(tok.encodeForModel(text, { onWarning: () => {} }).inputIds[0]);
  });

  it('gives one row for short or empty prompts and honours maxLength', () => {
    expect(tok.encodeLong('')).toEqual([[BOS, ...new Array(76).fill(EOS)]]);
    expect(tok.encodeLong('1024', { maxLength: 4 })).toEqual([
      [BOS, 272, 271, EOS],
      [BOS, 273, 275, EOS],
    ]);
    expect(() => tok.encodeLong('x', { maxLength: 2 })).toThrow(RangeError);
  });
});

describe('loadClipTokenizer', () => {
  it('caches the tokenizer per path', async () => {
    expect(await loadClipTokenizer()).toBe(tok);
  });

  it('names the path it cannot read', async () => {
    await expect(loadClipTokenizer({ vocabPath: '/nonexistent/vocab.txt.gz' })).rejects.toThrow(
      /Could not read the CLIP vocabulary \/nonexistent\/vocab\.txt\.gz/,
    );
  });

  it('rejects a vocabulary without the 48,894 merges', () => {
    expect(() => new CLIPTokenizer('#version: 0.2\na b\n')).toThrow(/needs 48894/);
  });

  it('encodes a 1,000-word prompt quickly (printed, not asserted)', () => {
    const words = 'masterpiece, best quality, a cute cat sitting on the windowsill at sunset, cinematic lighting'.split(' ');
    const text = Array.from({ length: 1000 }, (_, i) => words[(i * 7) % words.length]).join(' ');
    tok.encode(text);
    const runs = 20;
    const start = performance.now();
    for (let i = 0; i < runs; i++) tok.encode(text);
    console.log(`CLIP encode, 1,000 words: ${((performance.now() - start) / runs).toFixed(2)} ms`);
  });
});
