"""Supervised (question, program) pairs over real tables, mixed into WTQ training.

WTQ has few questions of the kinds people ask their own tables (totals and averages under a condition,
the most common value, two conditions, yes/no columns, dates against a year or a month, shares,
distinct counts). Here they are generated with the gold program known, so nothing spurious misleads
the learner:

- over the user-question benchmark's TRAINING tables (data/user_questions/train.tsv: its questions,
  answers computed by pandas, and programs), each program checked against its pandas answer;
- over WikiTableQuestions' training tables: the benchmark's TRAIN phrasings (never its test ones)
  filled with each table's own columns and cells, the answer computed by running the gold program.

A generated example is a nqa.training.train.Item whose only program is the gold one: its MML term is
then plain supervised log-likelihood.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import random
import re
from pathlib import Path

import numpy as np

from nqa.evaluation import is_correct, tsv_unescape_list
from nqa.executor import ProgramError, execute
from nqa.program import Program, Step
from nqa.question import Question, parse_question
from nqa.table import Table, load_table, normalize_text

REPO = Path(__file__).resolve().parents[2]  # the source checkout: the benchmark is not in the wheel
BENCH = REPO / "data" / "user_questions"


def load_phrasings() -> dict[str, list[tuple[str, str, str]]]:
    """data/user_questions/phrasings.py's PHRASINGS (plain data; loaded by path, it is no package)."""
    spec = importlib.util.spec_from_file_location("nqa_user_phrasings", BENCH / "phrasings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PHRASINGS


# ---------------------------------------------------------------------------------------------
# program specs (JSON in the benchmark's TSVs) -> Programs bound to a parsed question


def _column_index(table: Table, header: str) -> int | None:
    for j, col in enumerate(table.columns):
        if header in (col.raw_name, col.name):
            return j
    norm = normalize_text(header)
    return next((j for j, col in enumerate(table.columns) if normalize_text(col.name) == norm), None)


def _constant_index(question: Question, value, op: str) -> int | None:
    """The question constant a spec's value names (a number, a month, a year or a text span)."""
    text = str(value).strip()
    norm = normalize_text(text)
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        number = None
    best = None
    for k, c in enumerate(question.constants):
        if c.kind == "month" and norm == c.norm:
            return k
        if number is not None and c.kind == "number" and c.number == number:
            if best is None or c.source == "number":
                best = k
        elif number is None and c.kind == "text" and c.norm == norm:
            best = k if best is None else best
    return best


def spec_to_program(spec: list[dict], table: Table, question: Question) -> Program | None:
    """A benchmark program spec as a Program, or None when the parser cannot bind it. The most common
    value is `mfe → first → print`: mfe keeps every row holding the mode, and the answer is one value."""
    steps: list[Step] = []
    ops = [s["op"] for s in spec]
    if ops[-2:] == ["mfe", "print"]:
        spec = spec[:-1] + [{"op": "first"}] + spec[-1:]
    for s in spec:
        col = _column_index(table, s["column"]) if "column" in s else None
        if "column" in s and col is None:
            return None
        const = None
        if "value" in s:
            const = _constant_index(question, s["value"], s["op"])
            if const is None:
                return None
        steps.append(Step(s["op"], col, constant=const))
    return Program(steps)


def benchmark_tables(path: Path = BENCH / "train.tsv") -> list[Table]:
    """The tables of the benchmark's training part (never its test tables)."""
    with open(path, newline="", encoding="utf-8") as f:
        contexts = sorted({row["context"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)})
    return [load_table(str(path.parent / c)) for c in contexts]


# id, answer, table, question, program, kind
GeneratedExample = tuple[str, tuple[str, ...], Table, Question, Program, str]


def benchmark_examples(path: Path = BENCH / "train.tsv") -> list[GeneratedExample]:
    """(id, answer, table, question, gold program, kind) for every answerable benchmark question whose
    program binds and reproduces its pandas answer (the rest are counted and dropped)."""
    out = []
    tables: dict[str, Table] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row.get("answerable", "1") != "1" or not row.get("program"):
                continue
            table = tables.get(row["context"])
            if table is None:
                table = tables[row["context"]] = load_table(str(path.parent / row["context"]))
            question = parse_question(row["utterance"], table)
            program = spec_to_program(json.loads(row["program"]), table, question)
            answer = tuple(tsv_unescape_list(row["targetValue"]))
            if program is None or not _reproduces(program, table, question, answer):
                continue
            out.append((row["id"], answer, table, question, program, row["kind"]))
    return out


def _reproduces(program: Program, table: Table, question: Question, answer) -> bool:
    try:
        values = execute(program, table, question).values
    except ProgramError:
        return False
    return bool(values) and is_correct(list(answer), values)


# ---------------------------------------------------------------------------------------------
# the train phrasings over WTQ tables


def column_words(name: str) -> str:
    """How people name a column in a question: 'Price ($)' -> 'price', 'total_bill' -> 'total bill'."""
    name = re.sub(r"\(.*?\)|\[.*?\]", " ", name).replace("_", " ")
    return " ".join(normalize_text(name).split()) or normalize_text(name)


class _Roles:
    """Which columns of a table can fill which slots."""

    def __init__(self, table: Table):
        n = table.n_rows
        self.table = table
        self.names, self.groups, self.measures, self.dates, self.flags = [], [], [], [], []
        for j, col in enumerate(table.columns):
            words = column_words(col.name)
            if not words or len(words) > 25:
                continue
            texts = [t for t in col.text if t]
            valued = int(np.isfinite(col.values).sum())
            if (col.flags >= 0).sum() >= max(2, n // 2):
                self.flags.append(j)
            if col.kind == "number" and valued >= max(2, 0.8 * n):
                self.measures.append(j)
            elif col.kind == "date" and np.isfinite(col.years).sum() >= max(2, 0.8 * n):
                self.dates.append(j)
            elif col.kind == "text" and len(texts) >= 0.8 * n:
                distinct = len(set(texts))
                if distinct == len(texts) and all(len(t.split()) <= 5 for t in texts):
                    self.names.append(j)
                elif 2 <= distinct <= max(2, len(texts) // 2) and all(len(t.split()) <= 4 for t in texts):
                    self.groups.append(j)


def _cell(col, i: int, rng: random.Random) -> str:
    """A cell as a user types it: as written or lower-cased."""
    raw = " ".join(col.raw[i].split())
    return raw.lower() if rng.random() < 0.6 else raw


# Ways people say the same thing, from general English usage: a train template is also used with one
# phrase of a group replaced by another of the same group (data augmentation, so that the model
# learns the op behind a word rather than one template's wording).
SYNONYMS: list[list[str]] = [
    ["total", "sum of", "combined", "overall", "add up", "altogether", "summed"],
    ["average", "avg", "mean", "typical"],
    # not "how much": that asks for an amount ("how much revenue"), a sum, not a count of rows
    ["how many", "number of", "count of", "count the", "total number of"],
    ["highest", "largest", "biggest", "max", "maximum", "greatest", "top"],
    ["lowest", "smallest", "min", "minimum", "least", "bottom"],
    ["what is", "whats", "what's", "tell me", "show me", "give me", "find"],
    ["more than", "over", "above", "greater than", "exceeding"],
    ["less than", "under", "below", "fewer than"],
    ["at least", "no less than", "or more"],
    ["at most", "no more than", "or less"],
    ["after", "later than", "since"],
    ["before", "earlier than", "prior to"],
    ["percentage", "percent", "share", "proportion", "fraction", "%"],
    ["different", "distinct", "unique"],
    ["most common", "most frequent", "most often", "most popular", "commonest"],
    ["listed first", "at the top", "first in the list", "first"],
    ["listed last", "at the bottom", "last in the list", "last"],
    ["difference", "diff", "gap", "how far apart"],
    ["are", "r", "were"],
]
_SYNONYM_RE = [(g, re.compile(r"(?<![\w{])(" + "|".join(re.escape(p) for p in sorted(g, key=len, reverse=True))
                              + r")(?![\w}])")) for g in SYNONYMS]


# More train phrasings, written for the generator (the benchmark's phrasings.py stays as it is; none
# of these is one of its test templates: tests/test_generated.py checks).
EXTRA_TRAIN_PHRASINGS: dict[str, list[str]] = {
    "count_2": ["how many {group} {entity} were {group2}", "how many {entity} from {group} were {group2}",
                "how many {entity} in {group} are {group2}", "how many {group} {entity} have {group2}"],
    "sum_where": ["what is the total {measure} in {group}", "what were total {measure} in the {group}",
                  "how much {measure} did {group} have in total",
                  # the op word last, or "how much" for an amount (people ask both ways)
                  "how much {measure} did the {group} {entity} bring in", "{measure} for {group}, summed up",
                  "how much {measure} altogether for {group_col} {group}", "how much {measure} is there for {group}",
                  "for {group}, how much {measure} overall"],
    "avg_where": ["what is the average {measure} in {group}", "average {measure} in the {group}"],
    "most_common": ["what is the most common {group_col}", "which {group_col} occurs most",
                    "the {group_col} that appears the most"],
    "argmax_group": ["who has the highest {measure} in the {group}",
                     "which {name_col} in {group} has the most {measure}"],
    "count_1": ["how many {entity} were {group}", "how many {group} {entity}"],
    "share": ["what percent of the {entity} are {group}", "share of {entity} in {group}",
              # a count question turned into a share by a word at its end or its start
              "of all {entity}, what percentage are {group}", "{group} {entity} as a share of all {entity}",
              "how many of the {entity} are {group}, in percentage terms", "what fraction of {entity} is {group}",
              "how big a share of the {entity} have {group_col} {group}", "{group} {entity} in %",
              "how many {entity} have {group_col} {group} as a percent of all {entity}"],
    "count_all": ["how many {entity} altogether", "how many {entity} are there overall",
                  "how many {entity} in all", "what is the number of {entity} in the table",
                  "how many {entity} does it list in total", "the total count of {entity}",
                  "how many {entity} overall"],
    "difference": ["by how much do {name} and {name2} differ in {measure}",
                   "how big is the {measure} gap between {name} and {name2}",
                   "{name} vs {name2}: how far apart in {measure}",
                   "spread in {measure} between {name} and {name2}",
                   "how much do {name} and {name2} differ by in {measure}",
                   "what separates {name} and {name2} in {measure}"],
    "flag": [],
}


def paraphrase(template: str, rng: random.Random) -> str:
    """The template with one phrase of one synonym group replaced by another (or unchanged)."""
    found = [(g, m) for g, rx in _SYNONYM_RE for m in rx.finditer(template)]
    if not found or rng.random() < 0.3:
        return template
    group, m = rng.choice(found)
    other = rng.choice([p for p in group if p != m.group(1)])
    return template[:m.start(1)] + other + template[m.end(1):]


def _fill(template: str, slots: dict[str, str]) -> str | None:
    try:
        return template.format(**slots)
    except (KeyError, IndexError):
        return None


_VARIANT_OPS = {"max": ("max", "argmax"), "min": ("min", "argmin")}
_COMPARE = {"gt": "filter_gt", "lt": "filter_lt", "ge": "filter_ge", "le": "filter_le", "eq": "filter_eq"}


def _plan(kind: str, variant: str, roles: _Roles, rng: random.Random):
    """(slots, spec) for one question of `kind` on the table, or None when the table has no fit."""
    t = roles.table
    pick = rng.choice

    def name_row(j):
        return rng.randrange(t.n_rows)

    entity = pick(["rows", "entries", "records"])
    slots: dict[str, str] = {"entity": entity}
    if kind in ("lookup", "lookup_prefix"):
        if not roles.names:
            return None
        nj = pick(roles.names)
        others = [j for j in range(t.n_cols) if j != nj]
        if not others:
            return None
        cj = pick(others)
        i = name_row(nj)
        if not t.columns[cj].raw[i].strip():
            return None
        slots.update(col=column_words(t.columns[cj].name), name=_cell(t.columns[nj], i, rng))
        return slots, [("filter_eq", nj, t.columns[nj].text[i]), ("print", cj, None)]
    if kind in ("count_all",):
        return slots, [("count", None, None)]
    if kind in ("count_1", "share", "sum_where", "avg_where", "max_min_where", "argmax_group", "count_2"):
        if not roles.groups:
            return None
        gj = pick(roles.groups)
        i = rng.randrange(t.n_rows)
        if not t.columns[gj].text[i]:
            return None
        slots.update(group_col=column_words(t.columns[gj].name), group=_cell(t.columns[gj], i, rng))
        pre = [("filter_eq", gj, t.columns[gj].text[i])]
        if kind == "count_1":
            return slots, pre + [("count", None, None)]
        if kind == "share":
            return slots, pre + [("share", None, None)]
        if kind == "count_2":
            others = [j for j in roles.groups if j != gj]
            if not others:
                return None
            g2 = pick(others)
            rows = [r for r in range(t.n_rows) if t.columns[gj].text[r] == t.columns[gj].text[i]]
            r = pick(rows)
            if not t.columns[g2].text[r]:
                return None
            slots.update(group2_col=column_words(t.columns[g2].name), group2=_cell(t.columns[g2], r, rng))
            return slots, pre + [("filter_eq", g2, t.columns[g2].text[r]), ("count", None, None)]
        if not roles.measures:
            return None
        mj = pick(roles.measures)
        slots["measure"] = column_words(t.columns[mj].name)
        if kind == "sum_where":
            return slots, pre + [("sum", mj, None)]
        if kind == "avg_where":
            return slots, pre + [("avg", mj, None)]
        if kind == "max_min_where":
            return slots, pre + [(_VARIANT_OPS[variant][0], mj, None)]
        labels = [j for j in roles.names + roles.groups if j != gj]  # who or what the row is about
        if not labels:
            return None
        nj = pick(labels)
        slots["name_col"] = column_words(t.columns[nj].name)
        return slots, pre + [(_VARIANT_OPS[variant][1], mj, None), ("print", nj, None)]
    if kind in ("sum_all", "avg_all", "max_min", "argmax", "compare_number", "difference"):
        if not roles.measures:
            return None
        mj = pick(roles.measures)
        slots["measure"] = column_words(t.columns[mj].name)
        if kind == "sum_all":
            return slots, [("sum", mj, None)]
        if kind == "avg_all":
            return slots, [("avg", mj, None)]
        if kind == "max_min":
            return slots, [(_VARIANT_OPS[variant][0], mj, None)]
        if kind == "compare_number":
            v = t.columns[mj].values[rng.randrange(t.n_rows)]
            if not np.isfinite(v) or not float(v).is_integer():
                return None
            slots["number"] = str(int(v))
            return slots, [(_COMPARE[variant], mj, float(v)), ("count", None, None)]
        if not roles.names and not (kind == "argmax" and roles.groups):
            return None
        nj = pick(roles.names) if roles.names else -1
        slots["name_col"] = column_words(t.columns[nj].name)
        if kind == "argmax":
            nj = pick(roles.names + roles.groups)
            slots["name_col"] = column_words(t.columns[nj].name)
            return slots, [(_VARIANT_OPS[variant][1], mj, None), ("print", nj, None)]
        a, b = rng.sample(range(t.n_rows), 2) if t.n_rows >= 2 else (0, 0)
        if a == b:
            return None
        slots.update(name=_cell(t.columns[nj], a, rng), name2=_cell(t.columns[nj], b, rng))
        return slots, [("filter_any", nj, None), ("difference", mj, None)]
    if kind in ("count_distinct", "most_common"):
        if not roles.groups:
            return None
        gj = pick(roles.groups)
        slots["group_col"] = column_words(t.columns[gj].name)
        if kind == "count_distinct":
            return slots, [("count_distinct", gj, None)]
        return slots, [("mfe", gj, None), ("first", None, None), ("print", gj, None)]
    if kind in ("first_last", "next_prev"):
        if not roles.names:
            return None
        nj = pick(roles.names)
        slots["name_col"] = column_words(t.columns[nj].name)
        if kind == "first_last":
            return slots, [(variant, None, None), ("print", nj, None)]
        i = rng.randrange(t.n_rows)
        slots["name"] = _cell(t.columns[nj], i, rng)
        return slots, [("filter_eq", nj, t.columns[nj].text[i]), ("next" if variant == "next" else "previous",
                                                                    None, None), ("print", nj, None)]
    if kind in ("date_year", "date_month"):
        if not roles.dates:
            return None
        dj = pick(roles.dates)
        col = t.columns[dj]
        i = rng.randrange(t.n_rows)
        slots["date_col"] = column_words(col.name)
        if kind == "date_year":
            if not np.isfinite(col.years[i]):
                return None
            slots["year"] = str(int(col.years[i]))
            return slots, [(_COMPARE[variant], dj, float(col.years[i])), ("count", None, None)]
        if not np.isfinite(col.months[i]):
            return None
        month = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                 "october", "november", "december"][int(col.months[i]) - 1]
        slots["month"] = month
        return slots, [("filter_eq", dj, ("month", month)), ("count", None, None)]
    if kind == "flag":
        if not roles.flags:
            return None
        fj = pick(roles.flags)
        slots["flag"] = column_words(t.columns[fj].name)
        return slots, [("filter_true" if variant == "true" else "filter_false", fj, None), ("count", None, None)]
    return None


def _bind(plan: list[tuple], question: Question) -> Program | None:
    """Plan steps (op, column, value) -> a Program whose constants point into the parsed question."""
    steps = []
    for op, col, value in plan:
        const = None
        if op in ("filter_eq", "filter_gt", "filter_ge", "filter_lt", "filter_le"):
            if isinstance(value, tuple):  # ("month", name)
                const = next((k for k, c in enumerate(question.constants) if c.kind == "month"), None)
            elif isinstance(value, float):
                const = next((k for k, c in enumerate(question.constants)
                              if c.kind == "number" and c.number == value), None)
            else:
                const = next((k for k, c in enumerate(question.constants) if c.kind == "text" and c.norm == value),
                             None)
            if const is None:
                return None
        steps.append(Step(op, col, constant=const))
    return Program(steps)


def wtq_table_examples(tables: list[Table], per_table: int, seed: int, kinds: list[str] | None = None,
                       augment: bool = False, split: str = "train",
                       ) -> list[tuple[str, tuple[str, ...], Table, Question, Program, str]]:
    """Questions in the benchmark's TRAIN phrasings (augment: paraphrased by SYNONYMS) over `tables`,
    `per_table` tries each, answers by the exact executor on the gold program; programs whose answer
    is empty are dropped. Works on any table: WTQ's training tables, the benchmark's training tables.
    split="dev": the benchmark's dev phrasings, never trained on (calibration over unseen tables)."""
    phrasings = load_phrasings()
    kinds = kinds or [k for k in phrasings if k != "unanswerable"]
    train_phrasings = {k: [(pid, tpl) for pid, sp, tpl in phrasings[k] if sp == split] for k in kinds}
    if augment:
        for k in kinds:
            variant_of = {pid.split(".")[1] for pid, _ in train_phrasings[k] if pid.count(".") == 2}
            if not variant_of:  # kinds with variants (max/min...) keep their own templates
                train_phrasings[k] += [(f"{k}.extra{i}", t) for i, t in enumerate(EXTRA_TRAIN_PHRASINGS.get(k, []))]
    rng = random.Random(seed)
    out = []
    for ti, table in enumerate(tables):
        if table.n_rows < 2 or table.n_cols < 2:
            continue
        roles = _Roles(table)
        for n in range(per_table):
            kind = rng.choice(kinds)
            if not train_phrasings[kind]:
                continue
            pid, template = rng.choice(train_phrasings[kind])
            if augment:
                template = paraphrase(template, rng)
            variant = pid.split(".")[1] if pid.count(".") == 2 else ""
            planned = _plan(kind, variant, roles, rng)
            if planned is None:
                continue
            slots, plan = planned
            text = _fill(template, slots)
            if text is None:
                continue
            if augment:  # as people type: a question mark or not, a capital or not
                text = text + "?" if rng.random() < 0.5 and not text.endswith("?") else text
                text = text[:1].upper() + text[1:] if rng.random() < 0.3 else text
            question = parse_question(text, table)
            program = _bind(plan, question)
            if program is None:
                continue
            try:
                ex = execute(program, table, question)
            except ProgramError:
                continue
            if not ex.values or len(ex.values) > 3:  # a question people ask has one (or a few) answers
                continue
            out.append((f"gen-{ti}-{n}-{pid}", tuple(ex.values), table, question, program, kind))
    return out
