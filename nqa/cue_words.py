"""Cue words: which question words signal an op, by meaning class, as features beside the encoder's vectors.

The controller learns which words call for which op from the phrasings it is trained on. A frozen,
shallow encoder places 'or more' far from 'at least', and 'arent' far from 'are not', so a phrasing
never seen in training ("count bills with tip 6 or more") gets the op of its nearest seen neighbour
(`filter_le`, by the word 'more'). A small hand-written lexicon closes that gap the way the original
Neural Programmer's question features did: each word carries the classes of the cue phrases that
cover it (longest phrase first), so what the model learns for one member of a class carries to the
others. The classes are English, not tied to any table or benchmark.
"""
from __future__ import annotations

import numpy as np

# class -> cue phrases (lower-case token sequences, as nqa.question.tokenize splits them)
_CUES: dict[str, tuple[str, ...]] = {
    "negation": ("not", "no", "never", "none", "non", "without", "excluding", "except", "other than",
                 "n ' t", "' t", "arent", "isnt", "wasnt", "werent", "dont", "doesnt", "didnt", "hasnt",
                 "havent", "hadnt", "cant", "cannot", "wont", "neither", "nor"),
    "greater": ("more than", "greater than", "higher than", "larger than", "bigger than", "over", "above",
                "exceeding", "exceeds", "exceeded", "exceed", "after", "later than", "beyond",
                "newer than", "older than", "longer than", ">"),
    "at_least": ("at least", "or more", "or above", "or higher", "or greater", "or over", "or later",
                 "and up", "and above", "and over", "and higher", "and more", "or after", "no less than",
                 "not less than", "no fewer than", "minimum of", "since", "> =", ">="),
    "less": ("less than", "fewer than", "lower than", "smaller than", "shorter than", "cheaper than",
             "under", "below", "before", "earlier than", "prior to", "younger than", "<"),
    "at_most": ("at most", "or less", "or fewer", "or below", "or lower", "or under", "or earlier",
                "or before", "and under", "and below", "and less", "and lower", "up to", "no more than",
                "not more than", "maximum of", "until", "< =", "<="),
    "share": ("percentage", "percent", "per cent", "%", "share", "proportion", "fraction", "ratio", "pct",
              "what part"),
    "largest": ("largest", "highest", "biggest", "greatest", "maximum", "max", "top", "longest", "tallest",
                "heaviest", "latest", "most recent", "newest", "peak", "priciest", "most expensive"),
    "smallest": ("smallest", "lowest", "least", "minimum", "min", "fewest", "shortest", "lightest",
                 "cheapest", "earliest", "least expensive", "bottom"),
    "total": ("total", "totals", "sum", "add up", "adds up", "added up", "add together", "combined",
              "altogether", "in all", "all together", "tot", "overall", "aggregate"),
    "average": ("average", "averages", "avg", "mean", "on average", "typical"),
    "distinct": ("different", "distinct", "unique", "separate", "various"),
    "frequency": ("most often", "most common", "most frequent", "most frequently", "most popular",
                  "appears", "appear", "comes up", "come up", "occurs", "occur", "shows up", "mode",
                  "how often", "commonest"),
    "count": ("how many", "number of", "count", "counts", "tally", "quantity of"),
    # classes after this line came later: add new ones at the end (ProgrammerConfig.word_cues)
    "difference": ("difference", "differ", "differs", "apart", "gap", "margin", "how much more",
                   "how many more", "how much less", "how many fewer", "how much higher", "how much lower",
                   "how much bigger", "how much smaller", "compared to", "compared with"),
}
CUE_CLASSES: tuple[str, ...] = tuple(_CUES)
_PHRASES: dict[tuple[str, ...], set[int]] = {}
for _k, _name in enumerate(CUE_CLASSES):
    for _phrase in _CUES[_name]:
        _PHRASES.setdefault(tuple(_phrase.split()), set()).add(_k)
_LONGEST = max(len(p) for p in _PHRASES)


def cue_matrix(tokens: list[str]) -> np.ndarray:
    """(W, len(CUE_CLASSES)) float32: 1 where a word is part of a cue phrase of that class.

    Longest phrase first at each position, and a matched phrase is consumed: 'or more' marks both
    words `at_least`, not 'more' as anything else; 'most often' is `frequency`, not `largest`.
    >>> m = cue_matrix("count bills with tip 6 or more".split())
    >>> [CUE_CLASSES[k] for k in m.argmax(1)[m.any(1)]]
    ['count', 'at_least', 'at_least']
    """
    low = [t.lower() for t in tokens]
    out = np.zeros((len(tokens), len(CUE_CLASSES)), dtype=np.float32)
    i = 0
    while i < len(low):
        for n in range(min(_LONGEST, len(low) - i), 0, -1):
            classes = _PHRASES.get(tuple(low[i:i + n]))
            if classes:
                out[i:i + n, sorted(classes)] = 1.0
                i += n
                break
        else:
            i += 1
    return out
