"""Writes nqa/data/question_words.txt: the words questions are made of, whatever the table.

A question word that is in no cell, no header and not in this list is taken to name a value the
table does not hold ("what is the price of the chainsaw?": nqa/unsure.py). The list is every word
used in at least MIN_COUNT WikiTableQuestions training questions where, most of the time, it is NOT
in a cell of the question's table (so 'total', 'won' and 'after' are in; names of places, teams and
people, which questions use to point at cells, are not), plus the words of the user benchmark's
TRAIN phrasings (never its test ones).

    python -m training.question_words
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

from tqdm import tqdm

from nqa.question import table_index
from nqa.training.data import default_wtq_root, load_wtq_table, read_examples
from nqa.training.generated import load_phrasings

MIN_COUNT = 3
OUT = Path(__file__).resolve().parent.parent / "nqa" / "data" / "question_words.txt"


def main() -> int:
    counts: collections.Counter[str] = collections.Counter()
    in_cells: collections.Counter[str] = collections.Counter()
    root = default_wtq_root()
    for ex in tqdm(read_examples(root / "data" / "training.tsv"), desc="questions", mininterval=5):
        words_here = set(re.findall(r"[a-z]+", ex.question.lower()))
        counts.update(words_here)
        try:
            index = table_index(load_wtq_table(str(root / ex.context)))
        except ValueError:
            continue
        in_cells.update(w for w in words_here if index.any_cell_contains(w))
    words = {w for w, n in counts.items() if n >= MIN_COUNT and in_cells[w] < n / 2}
    for phrasings in load_phrasings().values():
        for _pid, split, template in phrasings:
            if split == "train":
                words |= set(re.findall(r"[a-z]+", re.sub(r"\{\w+\}", " ", template.lower())))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(sorted(words)) + "\n")
    print(f"{len(words)} words -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
