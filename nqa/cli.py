"""The `nqa` command. Each subcommand lives with its concept; this file only dispatches."""
from __future__ import annotations

import argparse
import sys

from nqa import __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="nqa", description="Table question answering with a Neural Programmer.")
    parser.add_argument("--version", action="version", version=f"nqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer a question about a table (a file, a database table)")
    p.add_argument("table", help="a CSV/TSV, Parquet, .xlsx or JSON-lines file, a DuckDB database file, "
                                 "or a postgresql:// URL")
    p.add_argument("question")
    p.add_argument("--table", dest="source_table", default=None,
                   help="the table to ask about in a database (name or schema.name)")
    p.add_argument("--order-by", default=None,
                   help="the column that orders the rows (first, last, next, previous) of a big file or table")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped model)")
    p.add_argument("--dialect", default=None,
                   help="SQL dialect to print (default: sqlite; for a table kept in an engine, the engine's)")

    p = sub.add_parser("predict", help="answer WTQ-format examples; writes the official prediction format")
    p.add_argument("--examples", required=True)
    p.add_argument("--tables-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sql-out", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--abstain", action="store_true",
                   help="write no answer where the model is unsure (a value in no cell, low confidence)")
    p.add_argument("--confidence-out", default=None,
                   help="TSV of each example's raw and calibrated confidence and unsure reason")

    p = sub.add_parser("evaluate", help="WTQ denotation accuracy by the official evaluator's rules")
    p.add_argument("--examples", required=True)
    p.add_argument("--pred", required=True)
    p.add_argument("--verbose", action="store_true")

    sub.add_parser("train", help="train a model (arguments go to nqa.training.train)", add_help=False)
    sub.add_parser("app", help="start the Streamlit app", add_help=False)
    sub.add_parser("bench", help="speed and memory benchmark (arguments go to nqa.bench)", add_help=False)

    if argv and argv[0] in ("train", "app", "bench"):
        cmd, rest = argv[0], argv[1:]
        if cmd == "train":
            from nqa.training.train import main as train_main

            return train_main(rest) or 0
        if cmd == "bench":
            from nqa.bench import main as bench_main

            return bench_main(rest) or 0
        from nqa.app_launcher import launch

        return launch(rest)

    args = parser.parse_args(argv)
    if args.command == "ask":
        from nqa.ask import cli_ask

        return cli_ask(args)
    if args.command == "predict":
        from nqa.predict import cli_predict

        return cli_predict(args)
    if args.command == "evaluate":
        from nqa.wtq import cli_evaluate

        return cli_evaluate(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
