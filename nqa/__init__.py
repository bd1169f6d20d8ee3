"""nqa: table question answering with a Neural Programmer."""
from nqa.table import Table, TableError, load_table

__all__ = ["Table", "TableError", "load_table", "TableQA", "Answer", "QuestionError", "CheckpointError"]
__version__ = "0.1.0"  # the only place the version is written (pyproject.toml reads it)


def __getattr__(name):  # the model stack (torch, transformers) loads only when asked for
    if name in ("TableQA", "Answer", "QuestionError", "CheckpointError"):
        from nqa import api

        return getattr(api, name)
    raise AttributeError(name)
