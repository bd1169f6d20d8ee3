"""Training faults lose nothing: a run killed with SIGKILL at an arbitrary moment resumes to exactly
the weights of an uninterrupted run, and a full disk (ENOSPC in the middle of a checkpoint write)
fails with a clear OSError while the last good checkpoint stays intact and loadable.

All runs use training.train's real loop on the tiny WTQ-format dataset (nqa.training.data.write_tiny_wtq)
with the tiny random-init encoder; ENOSPC is simulated by making the checkpoint writers write half
of the file and then raise OSError(ENOSPC), as a real full disk would.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nqa.training.data import write_tiny_wtq
from nqa.training.train import load_state, main, parse_config

REPO = Path(__file__).resolve().parent.parent
STEPS = 40


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return [f"--wtq_root={root}", "--train_split=tiny-train", "--dev_split=tiny-dev", "--search_split=",
            "--model.encoder=tiny", "--model.tiny_hidden=32", "--model.d_model=32", "--batch_size=4",
            f"--max_steps={STEPS}", "--eval_every=10", "--log_every=5", "--warmup_steps=2", "--progress=false",
            "--threads=1", f"--out_dir={out}", *extra]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_wtq(tmp_path_factory.mktemp("wtq"), n_tables=4)


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> dict:
    """The final weights of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    assert main(_args(tiny, out)) == 0
    return load_file(str(out / "last" / "model.safetensors"))


def _digest(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _state_step(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["train_state"])["step"]


# ---------------------------------------------------------------------------------------------
# killed runs


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(tiny, tmp_path, reference):
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "training.train", *_args(tiny, out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = out / "state.safetensors"
    deadline = time.time() + 300
    try:
        while not state.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # land somewhere between two checkpoints (or in the middle of one)
        proc.send_signal(signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (
        f"the run was not killed mid-way (exit {proc.returncode}); stderr: {err[-2000:]!r}")
    killed_at = _state_step(state)  # the state file is whole (written to a temp file, then renamed)
    assert 0 < killed_at < STEPS
    assert main(_args(tiny, out)) == 0  # resumes from state.safetensors
    _assert_same_weights(reference, load_file(str(out / "last" / "model.safetensors")))


def test_leftovers_of_a_kill_during_a_checkpoint_write_are_ignored(tiny, tmp_path, reference):
    """A kill between writing the temp files and renaming them leaves half-written temps behind;
    the resumed run must neither load them nor trip over them."""
    out = tmp_path / "leftovers"
    assert main(_args(tiny, out, "--stop_after=12")) == 0
    (out / "state.tmp").write_bytes(b"\x00" * 100)  # what save_state's temp would hold
    (out / "best.tmp").mkdir(exist_ok=True)  # and save_pretrained_atomic's
    (out / "best.tmp" / "model.safetensors").write_bytes(b"half a file")
    assert main(_args(tiny, out)) == 0
    _assert_same_weights(reference, load_file(str(out / "last" / "model.safetensors")))
    from nqa.api import TableQA

    TableQA.from_pretrained(out / "best")


def test_a_kill_between_the_two_renames_of_a_checkpoint_swap_loses_nothing(tiny, tmp_path):
    """save_pretrained_atomic swaps a directory in two renames (best -> best.old, best.tmp -> best);
    a kill between them leaves no `best` at all. The next run must put the last good one back,
    even when it never writes a new best (here: the recorded best dev accuracy is already 1.0)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    out = tmp_path / "swap"
    assert main(_args(tiny, out, "--stop_after=10")) == 0
    best, state = out / "best", out / "state.safetensors"
    with safe_open(str(state), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    train_state = json.loads(meta["train_state"])
    train_state["best_dev"] = 1.0  # no later evaluation can beat it, so `best` is never rewritten
    save_file(tensors, str(state), metadata={**meta, "train_state": json.dumps(train_state)})
    before = _digest(best)
    os.replace(best, out / "best.old")  # what a kill between the two renames leaves behind
    (out / "best.tmp").mkdir()
    (out / "best.tmp" / "model.safetensors").write_bytes(b"maybe half written")
    assert main(_args(tiny, out)) == 0
    from nqa.api import TableQA

    TableQA.from_pretrained(best)
    assert _digest(best) == before and not (out / "best.old").exists()


# ---------------------------------------------------------------------------------------------
# full disk


def _enospc(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _fill_disk_in_safetensors(monkeypatch) -> list[str]:
    """Every safetensors write stops halfway with ENOSPC (state and weights files alike)."""
    import safetensors.torch as st

    real, hits = st.save_file, []

    def full_disk(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        size = os.path.getsize(filename)
        with open(filename, "r+b") as f:
            f.truncate(size // 2)
        hits.append(str(filename))
        raise _enospc(filename)

    monkeypatch.setattr(st, "save_file", full_disk)
    return hits


def _fill_disk_in_config_json(monkeypatch) -> list[str]:
    """The weights fit, then the checkpoint's config.json does not (a half-written JSON file)."""
    real, hits = Path.write_text, []

    def full_disk(self, data, *args, **kwargs):
        if self.name == "config.json" and self.parent.name.endswith(".tmp"):
            real(self, data[: len(data) // 2], *args, **kwargs)
            hits.append(str(self))
            raise _enospc(self)
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    return hits


@pytest.mark.parametrize("fill", [_fill_disk_in_safetensors, _fill_disk_in_config_json],
                         ids=["safetensors write", "config.json write"])
def test_a_full_disk_fails_cleanly_and_keeps_the_last_good_checkpoint(fill, tiny, tmp_path, reference, monkeypatch):
    out = tmp_path / "full"
    assert main(_args(tiny, out, "--stop_after=10")) == 0  # the last good checkpoint: step 10
    state, best = out / "state.safetensors", out / "best"
    before = {**_digest(state), **_digest(best)}

    hits = fill(monkeypatch)
    with pytest.raises(OSError) as info:
        main(_args(tiny, out))
    monkeypatch.undo()
    assert hits, "the fault was never injected"
    assert info.value.errno == errno.ENOSPC and "No space left on device" in str(info.value)

    # the last good checkpoint is untouched and still loads, both forms. (Only a whole newer state
    # may replace it: with the config.json fault, the state saves before the failing one succeed.)
    assert _digest(best) == {k: v for k, v in before.items() if k.startswith("best")}
    if fill is _fill_disk_in_safetensors:
        assert _digest(state) == {k: v for k, v in before.items() if k == state.name}
    assert _state_step(state) >= 10
    from nqa.api import TableQA
    from nqa.training.train import build_model

    TableQA.from_pretrained(best)
    cfg = parse_config(_args(tiny, out))
    model = build_model(cfg)
    load_state(state, model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad]))

    # once there is space again, the run resumes from it and ends where it would have
    assert main(_args(tiny, out)) == 0
    _assert_same_weights(reference, load_file(str(out / "last" / "model.safetensors")))
