"""Download WikiTableQuestions 1.0.2 (Pasupat & Liang, ACL 2015; CC BY-SA 4.0) for nqa.

    python data/download_wtq.py [--dest DIR] [--zip FILE]

Fetches the official release zip (GitHub release, with the Stanford site as a fallback), extracts it
safely into DIR (default: $NQA_WTQ_ROOT, else ~/.cache/nqa/wikitablequestions) with the release's
top folder removed, so DIR holds csv/, data/, ... as nqa.wtq expects. `--zip` extracts an already
downloaded file instead. Point nqa at the result with `export NQA_WTQ_ROOT=DIR`.

The dataset is never copied into the repository; its licence asks that it be credited wherever it is
used or a model trained on it ships.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

URLS = (
    "https://github.com/ppasupat/WikiTableQuestions/releases/download/v1.0.2/WikiTableQuestions-1.0.2-compact.zip",
    "https://nlp.stanford.edu/software/sempre/wikitable/WikiTableQuestions-1.0.2.zip",
)
REQUIRED = ("csv", "data/training.tsv")  # what a usable extraction must contain
MAX_EXTRACTED_BYTES = 4 * 1024 ** 3  # refuse zip bombs: the release is well under 1 GB unpacked


class DownloadError(RuntimeError):
    """The dataset could not be downloaded or extracted; the message says why and what to do."""


def default_dest() -> Path:
    env = os.environ.get("NQA_WTQ_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "nqa" / "wikitablequestions"


def download(urls: tuple[str, ...], out: Path, timeout: float = 60.0) -> str:
    """Fetch the first URL that works into `out`; returns it. Raises DownloadError listing failures."""
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(out, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0)
                done = 0
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    if total:
                        print(f"\r{url.rsplit('/', 1)[-1]}: {done / total:5.1%} of {total / 1e6:.0f} MB",
                              end="", file=sys.stderr)
                print(file=sys.stderr)
            if not zipfile.is_zipfile(out):
                raise DownloadError(f"{url} did not return a zip file")
            return url
        except (urllib.error.URLError, OSError, TimeoutError, DownloadError) as e:
            errors.append(f"  {url}: {getattr(e, 'reason', e)}")
    raise DownloadError("could not download WikiTableQuestions (no network, or the URLs moved):\n"
                        + "\n".join(errors)
                        + "\nDownload the 1.0.2 zip by hand and run: python data/download_wtq.py --zip FILE")


def _member_target(name: str, strip: str) -> PurePosixPath | None:
    """The path inside the destination for a zip member, without the top folder; None to skip.
    Absolute paths and '..' are refused (zip-slip)."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DownloadError(f"unsafe path in the zip: {name!r}")
    parts = p.parts[1:] if strip and p.parts and p.parts[0] == strip else p.parts
    return PurePosixPath(*parts) if parts else None


def extract(zip_path: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract the release zip into `dest` (replacing what is there only once extraction succeeded)."""
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DownloadError(f"{zip_path}: not a readable zip file ({e})") from None
    with zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_EXTRACTED_BYTES:
            raise DownloadError(f"{zip_path}: unpacks to more than {MAX_EXTRACTED_BYTES / 1e9:.0f} GB; refusing")
        tops = {PurePosixPath(i.filename).parts[0] for i in infos if PurePosixPath(i.filename).parts}
        strip = next(iter(tops)) if len(tops) == 1 and any("/" in i.filename for i in infos) else ""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wtq-", dir=dest.parent))
        try:
            for info in infos:
                target = _member_target(info.filename, strip)
                if target is None or info.is_dir():
                    continue
                out = tmp / target
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            missing = [r for r in REQUIRED if not (tmp / r).exists()]
            if missing:
                raise DownloadError(f"{zip_path}: not the WikiTableQuestions release (missing {', '.join(missing)})")
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dest", default=None, help="where to put the dataset (default: $NQA_WTQ_ROOT or "
                                                "~/.cache/nqa/wikitablequestions)")
    p.add_argument("--zip", default=None, help="extract this already-downloaded release zip")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    dest = Path(args.dest) if args.dest else default_dest()
    try:
        if args.zip:
            extract(args.zip, dest)
        else:
            with tempfile.TemporaryDirectory() as d:
                zpath = Path(d) / "wtq.zip"
                url = download(URLS, zpath, args.timeout)
                print(f"downloaded {url}", file=sys.stderr)
                extract(zpath, dest)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"WikiTableQuestions is in {dest}\nexport NQA_WTQ_ROOT={dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
