"""The `>>>` examples in the public API's docstrings run, so the documentation cannot go stale.

They run against the shipped model when it is installed, else against a tiny random-init model:
the examples check facts that hold for any model (the SQL reproduces the answer, the round trip
keeps the files), never a trained model's particular answer.
"""
import doctest
import importlib

import pytest

from nqa import api

MODULES = ["nqa.api", "nqa.explain", "nqa.program", "nqa.table", "nqa.sql"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch, tiny_model_dir):
    if not (api.DEFAULT_CHECKPOINT / api.CONFIG_FILE).is_file():
        monkeypatch.setattr(api, "DEFAULT_CHECKPOINT", tiny_model_dir)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name == "nqa.api":
        assert result.attempted >= 10
