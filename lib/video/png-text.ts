/**
 * PNG text chunks. sharp/libvips cannot write tEXt, so the writers insert the
 * chunks themselves, before IEND, each with its CRC-32. Latin-1 text becomes
 * tEXt; other text becomes an uncompressed iTXt (UTF-8), as the PNG spec asks.
 */

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309 / zlib polynomial 0xEDB88320), as PNG chunks use. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const isLatin1 = (s: string): boolean => /^[\x00-\xff]*$/.test(s) && !s.includes('\0');

function checkKeyword(keyword: string): void {
  // PNG: 1-79 Latin-1 printable characters, no leading/trailing/double spaces.
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || /^ | $| {2}/.test(keyword))
    throw new TypeError(`PNG text keyword must be 1-79 printable Latin-1 characters without stray spaces, got ${JSON.stringify(keyword)}`);
}

/** One tEXt (Latin-1 text) or iTXt (any other text) chunk. */
export function textChunk(keyword: string, text: string): Buffer {
  checkKeyword(keyword);
  if (isLatin1(text)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  // iTXt: keyword \0 compression-flag(0) compression-method(0) language-tag \0 translated-keyword \0 text(UTF-8)
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

interface ChunkInfo {
  type: string;
  offset: number;
  length: number;
}

function* chunks(png: Uint8Array): Generator<ChunkInfo> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG file (bad signature)');
  let offset = 8;
  while (offset + 12 <= buf.length) {
    const length = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    if (offset + 12 + length > buf.length) throw new Error(`truncated PNG chunk ${type} at byte ${offset}`);
    yield { type, offset, length };
    if (type === 'IEND') return;
    offset += 12 + length;
  }
  throw new Error('PNG has no IEND chunk');
}

/** Returns a copy of `png` with one text chunk per entry inserted before IEND. */
export function addPngText(png: Uint8Array, entries: Record<string, string>): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  let iend: ChunkInfo | undefined;
  for (const c of chunks(buf)) if (c.type === 'IEND') iend = c;
  if (!iend) throw new Error('PNG has no IEND chunk');
  const text = Object.entries(entries).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([buf.subarray(0, iend.offset), ...text, buf.subarray(iend.offset)]);
}

/** The tEXt and (uncompressed) iTXt entries of a PNG, keyword -> text. CRCs are checked. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (const c of chunks(buf)) {
    if (c.type !== 'tEXt' && c.type !== 'iTXt') continue;
    const data = buf.subarray(c.offset + 8, c.offset + 8 + c.length);
    const crc = buf.readUInt32BE(c.offset + 8 + c.length);
    if (crc32(buf.subarray(c.offset + 4, c.offset + 8 + c.length)) !== crc) throw new Error(`bad CRC in PNG ${c.type} chunk`);
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const keyword = data.toString('latin1', 0, nul);
    if (c.type === 'tEXt') out[keyword] = data.toString('latin1', nul + 1);
    else {
      if (data[nul + 1] !== 0) continue; // compressed iTXt: not written by us
      const lang = data.indexOf(0, nul + 3);
      const trans = lang < 0 ? -1 : data.indexOf(0, lang + 1);
      if (trans < 0) continue;
      out[keyword] = data.toString('utf8', trans + 1);
    }
  }
  return out;
}
