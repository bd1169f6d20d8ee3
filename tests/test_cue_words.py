"""Cue words: the lexicon that lets one phrasing of an op carry to its synonyms (nqa/cue_words.py)."""
import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nqa.cue_words as cue_words
from nqa.cue_words import CUE_CLASSES, cue_matrix
from nqa.features import build_features, collate
from nqa.question import parse_question, tokenize
from nqa.table import table_from_rows


def classes(text: str) -> dict[str, list[str]]:
    words = tokenize(text)
    m = cue_matrix(words)
    return {w: [CUE_CLASSES[k] for k in np.flatnonzero(m[i])] for i, w in enumerate(words) if m[i].any()}


@pytest.mark.parametrize("a, b, cls", [
    ("count bills with tip 6 or more", "how many bills have a tip of at least 6", "at_least"),
    ("count bills with tip 6 or less", "how many bills have a tip of at most 6", "at_most"),
    ("how many bills arent smoker", "how many bills are not smoker", "negation"),
    ("how many bills aren't smoker", "how many bills are not smoker", "negation"),
    ("how many birds are male as a percentage", "what share of birds are male", "share"),
    ("which city comes up most often", "what is the most common city", "frequency"),
    ("add up the total column", "what is the sum of total", "total"),
])
def test_synonyms_share_a_class(a, b, cls):
    assert cls in {c for cs in classes(a).values() for c in cs}
    assert cls in {c for cs in classes(b).values() for c in cs}


def test_longest_phrase_wins_and_is_consumed():
    found = classes("how many teams scored 3 or more goals")
    assert found["or"] == ["at_least"] and found["more"] == ["at_least"]  # not 'more' as greater
    assert classes("which day appears most often")["most"] == ["frequency"]
    assert "greater" in classes("more than 3 goals")["more"]


@given(st.lists(st.sampled_from(["not", "or", "more", "less", "than", "at", "least", "x", "%", "how", "many"]),
                max_size=12))
def test_shape_and_values(words):
    m = cue_matrix(words)
    assert m.shape == (len(words), len(CUE_CLASSES)) and m.dtype == np.float32
    assert set(np.unique(m)) <= {0.0, 1.0}


def test_features_and_batch_carry_the_cues():
    t = table_from_rows(["Name", "Tip"], [["a", "1"], ["b", "7"]])
    q = parse_question("count rows with tip 6 or more", t)
    f = build_features(t, q, with_rows=False)
    assert f.word_cues is not None and f.word_cues.shape == (len(q.tokens), len(CUE_CLASSES))
    f.word_cues = None  # features cached before the field existed: collate recomputes them
    batch = collate([f])
    assert batch.word_cues is not None
    assert batch.word_cues[0, -2:, CUE_CLASSES.index("at_least")].tolist() == [1.0, 1.0]


def test_docstring_examples():
    assert doctest.testmod(cue_words).failed == 0
