"""Minimal CLIP BPE tokenizer (openai/CLIP simple_tokenizer) for the demo model's captions.

Exact for lowercase ASCII text (our template captions); ftfy / html unescaping are skipped.
Encodes like the TypeScript `CLIPTokenizer` / diffusers: ``[49406, ...tokens, 49407]`` padded
with 49407 (<|endoftext|>) to 77 ids.
"""

from __future__ import annotations

import gzip
import os
import re
from functools import lru_cache
from typing import Dict, List, Sequence

VOCAB = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "clip", "bpe_simple_vocab_16e6.txt.gz")
BOS, EOS, MAX_LEN = 49406, 49407, 77


def bytes_to_unicode() -> Dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return {(a, b) for a, b in zip(word[:-1], word[1:])}


class SimpleTokenizer:
    def __init__(self, path: str = VOCAB):
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(path).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges[1 : 49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for m in merges:
            vocab.append("".join(m))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""", re.IGNORECASE
        )

    def bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word: List[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def tokens(self, text: str) -> List[int]:
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids: List[int] = []
        for tok in re.findall(self.pat, text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok).split(" "))
        return ids

    def encode(self, text: str, max_len: int = MAX_LEN) -> List[int]:
        row = [BOS] + self.tokens(text)[: max_len - 2] + [EOS]
        return row + [EOS] * (max_len - len(row))


@lru_cache(maxsize=1)
def get_tokenizer() -> SimpleTokenizer:
    return SimpleTokenizer()


def encode_batch(texts: Sequence[str]):
    import torch

    tok = get_tokenizer()
    return torch.tensor([tok.encode(t) for t in texts], dtype=torch.int64)


if __name__ == "__main__":
    import sys

    t = get_tokenizer()
    for s in sys.argv[1:]:
        print(t.encode(s)[: len(t.tokens(s)) + 2])
