"""A tiny random-init model saved as a checkpoint, for testing the plumbing (not the answers).

Its answers are arbitrary but deterministic; nothing here depends on what a trained model answers.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def make_tiny_checkpoint(path: Path) -> Path:
    import torch

    from nqa.api import TableQA
    from nqa.programmer import NeuralProgrammer, ProgrammerConfig

    torch.manual_seed(0)
    return TableQA(NeuralProgrammer(ProgrammerConfig(encoder="tiny"))).save_pretrained(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_qa(tiny_model_dir):
    from nqa.api import TableQA

    return TableQA.from_pretrained(tiny_model_dir)
