"""WTQ examples, tables and answer targets; the downloader's extraction; the real dataset when present."""
import importlib.util
import time
import zipfile
from pathlib import Path

import pytest

from nqa.table import table_from_rows
from nqa.wtq import (
    AnswerTargets,
    WTQFormatError,
    answer_targets,
    coverage,
    load_context_table,
    read_examples,
    resolve_root,
)

ROOT = Path(__file__).resolve().parents[1]


def _downloader():
    spec = importlib.util.spec_from_file_location("download_wtq", ROOT / "data" / "download_wtq.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mini_dataset(root: Path) -> Path:
    (root / "csv" / "200-csv").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "csv" / "200-csv" / "0.csv").write_text(
        '"Year","City","Score"\n"2001","Paris","3"\n"2004","Rome[3]","1,000"\n"2005","Rome","7"\n', encoding="utf-8")
    (root / "data" / "training.tsv").write_text(
        "id\tutterance\tcontext\ttargetValue\n"
        "nt-0\twhere in 2001?\tcsv/200-csv/0.csv\tParis\n"
        "nt-1\twhich cities?\tcsv/200-csv/0.csv\tParis|Rome\n"
        "nt-2\thow many?\tcsv/200-csv/0.csv\t3\n"
        "nt-3\ttotal?\tcsv/200-csv/0.csv\t1010\n"
        "nt-4\twho?\tcsv/200-csv/0.csv\tBerlin\n"
        "nt-5\ta \\\\ b\\nc?\tcsv/200-csv/0.csv\tx\\py\n", encoding="utf-8")
    return root


def test_read_examples(tmp_path):
    ex = read_examples(_mini_dataset(tmp_path) / "data" / "training.tsv")
    assert [e.id for e in ex] == [f"nt-{i}" for i in range(6)]
    assert ex[1].targets == ["Paris", "Rome"] and ex[1].answers == ("Paris", "Rome")
    assert ex[5].question == "a \\ b\nc?" and ex[5].targets == ["x|y"] and ex[5].utterance == ex[5].question
    assert ex[0].context == "csv/200-csv/0.csv"


def test_read_examples_errors(tmp_path):
    (tmp_path / "bad.tsv").write_text("foo\tbar\n1\t2\n")
    with pytest.raises(WTQFormatError, match="header lacks"):
        read_examples(tmp_path / "bad.tsv")
    (tmp_path / "short.tsv").write_text("id\tutterance\tcontext\ttargetValue\nnt-0\tq\n")
    with pytest.raises(WTQFormatError, match="short.tsv:2"):
        read_examples(tmp_path / "short.tsv")


def test_answer_targets_and_kinds():
    t = table_from_rows(["Year", "City", "Score"],
                        [["2001", "Paris", "3"], ["2004", "Rome[3]", "1,000"], ["2005", "rome", "7"]])
    assert answer_targets(["Paris"], t) == AnswerTargets([[(0, 1)]], None)
    assert answer_targets(["Rome"], t).cells == [[(1, 1), (2, 1)]]  # footnote and case normalised away
    assert answer_targets(["Paris", "Rome"], t).kind == "cells"
    both = answer_targets(["3"], t)
    assert both.kind == "both" and both.number == 3.0 and both.cells == [[(0, 2)]]
    assert answer_targets(["1,000"], t).cells == [[(1, 2)]]  # the canonical target matches the cell text
    assert answer_targets(["10"], t).kind == "number"
    assert answer_targets(["Berlin"], t).kind == "neither"
    assert answer_targets(["Paris", "Berlin"], t).kind == "neither"  # every item must be a cell
    assert answer_targets(["2001"], t).cells == [[(0, 0)]]


def test_coverage_and_tables_by_context(tmp_path):
    root = _mini_dataset(tmp_path)
    ex = read_examples(root / "data" / "training.tsv")
    t = load_context_table(ex[0].context, root)
    assert t is load_context_table(ex[0].context, root)  # cached
    cov = coverage(ex, root)
    assert dict(cov.counts) == {"cells": 2, "both": 1, "number": 1, "neither": 2}
    assert abs(sum(cov.shares().values()) - 1) < 1e-9 and "cells" in cov.report()


def test_cli_coverage(tmp_path, capsys):
    from nqa.wtq import main

    assert main(["--root", str(_mini_dataset(tmp_path)), "--coverage"]) == 0
    assert "6 examples" in capsys.readouterr().out
    assert main(["--root", str(tmp_path), "--cell-types"]) == 0
    out = capsys.readouterr().out
    assert "1 tables, 9 non-empty cells" in out and "read as numbers: 66.7%" in out
    assert main(["--root", str(tmp_path / "nowhere"), "--coverage"]) == 2


def test_resolve_root_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="download_wtq.py"):
        resolve_root(tmp_path / "missing")
    monkeypatch.setenv("NQA_WTQ_ROOT", str(tmp_path))
    assert resolve_root() == tmp_path


# ---------------------------------------------------------------------------------------------
# downloader (extraction only: there is no network here)


def _release_zip(path: Path, top: str = "WikiTableQuestions", extra: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{top}/data/training.tsv", "id\tutterance\tcontext\ttargetValue\n")
        z.writestr(f"{top}/csv/200-csv/0.csv", '"a"\n"1"\n')
        z.writestr(f"{top}/README.md", "readme")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def test_download_extracts_release_layout(tmp_path):
    dl = _downloader()
    dest = dl.extract(_release_zip(tmp_path / "r.zip"), tmp_path / "out" / "wtq")
    assert (dest / "data" / "training.tsv").is_file() and (dest / "csv" / "200-csv" / "0.csv").is_file()
    assert not any(p.name.startswith(".wtq-") for p in (tmp_path / "out").iterdir())  # no temp left
    assert dl.main(["--zip", str(tmp_path / "r.zip"), "--dest", str(tmp_path / "again")]) == 0


def test_download_refuses_bad_zips(tmp_path):
    dl = _downloader()
    evil = _release_zip(tmp_path / "evil.zip", extra={"WikiTableQuestions/../../escape.txt": "x"})
    with pytest.raises(dl.DownloadError, match="unsafe path"):
        dl.extract(evil, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("something/else.txt", "x")
    with pytest.raises(dl.DownloadError, match="not the WikiTableQuestions release"):
        dl.extract(other, tmp_path / "out2")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(dl.DownloadError, match="not a readable zip"):
        dl.extract(tmp_path / "junk.zip", tmp_path / "out3")


def test_download_network_failure_is_clear(tmp_path, capsys):
    dl = _downloader()
    with pytest.raises(dl.DownloadError, match="could not download WikiTableQuestions") as e:
        dl.download(("http://127.0.0.1:9/WikiTableQuestions.zip",), tmp_path / "x.zip", timeout=5)
    assert "--zip FILE" in str(e.value)


# ---------------------------------------------------------------------------------------------
# the real dataset


def test_every_training_table_loads(wtq_root):
    """All 1,679 tables referenced by data/training.tsv load without error (about 5 s)."""
    examples = read_examples(wtq_root / "data" / "training.tsv")
    assert len(examples) == 14152
    contexts = sorted({e.context for e in examples})
    assert len(contexts) == 1679
    from nqa.table import load_table

    start = time.perf_counter()
    n_cells = 0
    for c in contexts:
        t = load_table(wtq_root / c)
        assert t.n_cols > 0
        n_cells += t.n_rows * t.n_cols
    assert n_cells > 200_000
    print(f"loaded {len(contexts)} tables ({n_cells} cells) in {time.perf_counter() - start:.1f} s")


def test_wtq_escaped_table_reads_like_its_tsv(wtq_root):
    from nqa.evaluation import tsv_unescape

    csv_path = next(p for p in sorted((wtq_root / "csv").glob("*/*.csv")) if '\\"' in p.read_text(encoding="utf-8"))
    t = load_context_table(str(csv_path.relative_to(wtq_root)), wtq_root)
    tsv_rows = [[tsv_unescape(c) for c in line.split("\t")]
                for line in csv_path.with_suffix(".tsv").read_text(encoding="utf-8").split("\n") if line]
    got = [[c.raw_name for c in t.columns]] + [[c.raw[i] for c in t.columns] for i in range(t.n_rows)]
    norm = lambda rows: [[" ".join(c.split()) for c in r] for r in rows]  # noqa: E731 (the .tsv collapses spaces)
    assert norm(got) == norm(tsv_rows)


@pytest.mark.slow
def test_training_coverage(wtq_root):
    cov = coverage(read_examples(wtq_root / "data" / "training.tsv"), wtq_root)
    s = cov.shares()
    assert s["cells"] + s["both"] > 0.6 and s["number"] > 0.15 and s["neither"] < 0.15
