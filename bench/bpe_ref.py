#!/usr/bin/env python3
"""Reference for bench_bpe: GPT-2 BPE as openai/gpt-2 src/encoder.py defines it (rewritten,
using the `regex` module like the original), timed and compared id for id with Lectern.

Usage: BENCH_BPE_DUMP=/tmp/bpe build/bench/bench_bpe && bench/bpe_ref.py TOKDIR /tmp/bpe
"""
import json
import sys
import time

import regex


def byte_alphabet():
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def main():
    tokdir, prefix = sys.argv[1], sys.argv[2]
    with open(f"{tokdir}/vocab.json", encoding="utf-8") as f:
        vocab = json.load(f)
    with open(f"{tokdir}/merges.txt", encoding="utf-8") as f:
        lines = f.read().split("\n")[1:-1]
    ranks = {tuple(l.split()): i for i, l in enumerate(lines)}
    alpha = byte_alphabet()
    pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    cache = {}

    def bpe(word):
        if word in cache:
            return cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = [(ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
            r, _ = min(pairs)
            if r == 1 << 30:
                break
            a, b = lines[r].split()
            out, i = [], 0
            while i < len(parts):  # every occurrence, left to right, as encoder.py does
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        ids = [vocab[p] for p in parts]
        cache[word] = ids
        return ids

    with open(f"{prefix}.txt", "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    t0 = time.perf_counter()
    ids = []
    for piece in pat.findall(text):
        ids.extend(bpe("".join(alpha[b] for b in piece.encode("utf-8"))))
    dt = time.perf_counter() - t0
    with open(f"{prefix}.ids") as f:
        lectern = [int(x) for x in f.read().split()]
    same = ids == lectern
    print(f"encoder.py-style reference (Python regex): {len(raw) / dt / 1e6:8.2f} MB/s  "
          f"{len(raw)} bytes -> {len(ids)} tokens in {dt:.3f} s; Lectern ids "
          f"{'identical' if same else 'DIFFER'}")
    if not same:
        first = next((i for i, (x, y) in enumerate(zip(ids, lectern)) if x != y), min(len(ids), len(lectern)))
        print(f"first difference at token {first}: reference {ids[first:first + 8]} lectern {lectern[first:first + 8]}")
        sys.exit(1)


main()
