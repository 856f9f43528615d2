"""Scanner benchmark: leak-scan vs detect-secrets' AWS plugin vs a plain regex pass (the floor).

The corpus is real text found on this machine (the virtualenv's site-packages, /usr/share),
copied into a tree under bench/data/ (git-ignored, cached between runs), with known keys planted
at known places: plain, with and without their secret, base64-encoded at every alignment,
URL-encoded. All three contenders run as child processes over the same tree, so wall time and
peak RSS (``os.wait4``) are measured the same way for each.

    python bench/scanner_bench.py [SIZE_MB]          # default 300
    from bench.scanner_bench import run; rows = run(300)
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from leak_scan.detector import is_plausible_secret

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
TEXT_SUFFIXES = (
    ".py", ".pyi", ".txt", ".md", ".rst", ".json", ".yaml", ".yml", ".html", ".js", ".css",
    ".xml", ".csv", ".cfg", ".ini", ".toml", ".c", ".h", ".sh", ".pl", ".tex",
)  # fmt: skip
SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
CORPUS_VERSION = 3

FLOOR_SCRIPT = r"""
import os, re, sys
pattern = re.compile(rb"(?:AKIA|ASIA)[A-Z0-9]{16}")
hits = total = 0
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    dirnames.sort()
    for name in sorted(filenames):
        with open(os.path.join(dirpath, name), "rb") as handle:
            data = handle.read()
        total += len(data)
        hits += len(pattern.findall(data))
print(hits, total)
"""


# --- corpus -------------------------------------------------------------------------------------


def _key(rng: random.Random) -> tuple[str, str]:
    account = rng.randrange(10**11, 10**12)
    head = (1 << 47) | (account << 7) | rng.randrange(128)
    raw = head.to_bytes(6, "big") + rng.randbytes(4)
    return "AKIA" + base64.b32encode(raw).decode(), f"{account:012d}"


def _secret(rng: random.Random) -> str:
    while True:
        value = "".join(rng.choice(SECRET_CHARS) for _ in range(40))
        if is_plausible_secret(value.encode()):  # skip the rare word-like draw
            return value


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Each planting: (kind, has secret, text to insert as whole lines).
def _planting(kind: int, key: str, secret: str, rng: random.Random) -> tuple[str, bool, str]:
    creds = f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    variants = [
        ("ini-with-secret", True, creds),
        ("env-key-only", False, f"AWS_ACCESS_KEY_ID={key}\n"),
        ("json-with-secret", True, f'{{"AccessKeyId": "{key}", "SecretAccessKey": "{secret}"}}\n'),
        ("base64-credentials", True, f"blob: {_b64('#' * rng.randrange(3) + creds)}\n"),
        ("k8s-base64-key-only", False, f"  AWS_ACCESS_KEY_ID: {_b64(key)}\n"),
        ("url-encoded", False, f"next=https%3A%2F%2Fh%3FAWSAccessKeyId%3D{key}%26x%3D1\n"),
        (
            "presigned-url",
            False,
            f"https://b.s3.amazonaws.com/o?X-Amz-Credential={key}%2F20240101%2Fus-east-1%2Fs3\n",
        ),
        ("csv-with-secret", True, f"{key},{quote(secret, safe='/+')}\n"),
    ]
    return variants[kind % len(variants)]


def _source_files() -> list[Path]:
    roots = [Path(p) for p in sys.path if p.endswith("site-packages")] + [Path("/usr/share")]
    found: list[Path] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if "/bench/data" in dirpath:
                continue
            for name in sorted(filenames):
                if name.endswith(TEXT_SUFFIXES):
                    found.append(Path(dirpath) / name)
    return found


@dataclass
class Corpus:
    tree: Path
    large_file: Path
    size: int
    planted: list[dict[str, Any]]
    history: Path
    history_planted: list[dict[str, Any]]

    @property
    def mb(self) -> float:
        return self.size / 1e6


def build_corpus(size_mb: int = 300, keys: int = 240, seed: int = 7) -> Corpus:
    """Build (or reuse) the corpus tree and history repository for ``size_mb``."""
    base = DATA / f"scanner-{size_mb}mb"
    manifest_path = base / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") == CORPUS_VERSION:
            return Corpus(
                tree=base / "tree",
                large_file=base / manifest["large_file"],
                size=manifest["size"],
                planted=manifest["planted"],
                history=base / "history",
                history_planted=manifest["history_planted"],
            )
    if base.exists():
        shutil.rmtree(base)
    tree = base / "tree"
    tree.mkdir(parents=True)
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    large_target = min(64_000_000, target // 4)

    # Copy real text files until the target size; the first quarter also fills one large file.
    sources = _source_files()
    rng.shuffle(sources)
    written, index = 0, 0
    large_rel = Path("large") / "all-in-one.txt"
    (tree / "large").mkdir()
    large_size = 0
    files: list[Path] = []
    with open(tree / large_rel, "wb") as large:
        while written < target and sources:
            src = sources[index % len(sources)]
            index += 1
            try:
                data = src.read_bytes()
            except OSError:
                continue
            if not data or b"\0" in data[:8000] or len(data) > 8_000_000:
                continue
            if large_size < large_target:
                large.write(data if data.endswith(b"\n") else data + b"\n")
                large_size += len(data) + 1
                written += len(data) + 1
                continue
            rel = Path(f"d{len(files) // 500:03d}") / f"{len(files):06d}-{src.name}"
            (tree / rel.parent).mkdir(exist_ok=True)
            (tree / rel).write_bytes(data)
            files.append(rel)
            written += len(data)

    planted = _plant(tree, [*files, large_rel], keys, rng, force_large=large_rel)
    history, history_planted = _build_history(base / "history", tree, files, rng)
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    manifest = {
        "version": CORPUS_VERSION,
        "size": size,
        "large_file": str(Path("tree") / large_rel),
        "planted": planted,
        "history_planted": history_planted,
        "sources_reused": index > len(sources),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return Corpus(tree, tree / large_rel, size, planted, history, history_planted)


def _plant(
    tree: Path, files: list[Path], keys: int, rng: random.Random, force_large: Path
) -> list[dict[str, Any]]:
    planted = []
    targets = [force_large] * (keys // 8) + rng.sample(files, keys - keys // 8)
    by_file: dict[Path, list[tuple[str, bool, str, str, str]]] = {}
    for n, rel in enumerate(targets):
        key, account = _key(rng)
        kind, has_secret, text = _planting(n, key, _secret(rng), rng)
        by_file.setdefault(rel, []).append((kind, has_secret, text, key, account))
    for rel, items in by_file.items():
        path = tree / rel
        data = path.read_bytes()
        # One item per equal segment, so two plantings in a file never share a secret window.
        step = len(data) / len(items)
        cuts = [int(i * step + rng.random() * step) for i in range(len(items))]
        out, last = [], 0
        for cut, (kind, has_secret, text, key, account) in zip(cuts, items, strict=True):
            line_end = data.find(b"\n", cut)
            cut = len(data) if line_end < 0 else line_end + 1
            cut = max(cut, last)
            out.append(data[last:cut])
            newline = b"" if cut == 0 or data[cut - 1 : cut] == b"\n" else b"\n"
            out.append(newline + text.encode())
            last = cut
            planted.append(
                {"key_id": key, "account_id": account, "path": str(rel), "kind": kind,
                 "secret": has_secret}
            )  # fmt: skip
        out.append(data[last:])
        path.write_bytes(b"".join(out))
    return planted


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _build_history(
    repo: Path, tree: Path, files: list[Path], rng: random.Random
) -> tuple[Path, list[dict[str, Any]]]:
    """~100 commits of corpus files; 20 keys added, half of them deleted again later."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    chosen = files[: min(len(files), 3000)]
    planted: list[dict[str, Any]] = []
    per_commit = max(1, len(chosen) // 100)
    to_remove: list[Path] = []
    for c in range(0, len(chosen), per_commit):
        batch = chosen[c : c + per_commit]
        for rel in batch:
            dest = repo / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tree / rel, dest)
        if len(planted) < 20 and (c // per_commit) % 5 == 0:
            key, account = _key(rng)
            rel = Path("secrets") / f"creds-{len(planted)}.ini"
            (repo / rel).parent.mkdir(exist_ok=True)
            (repo / rel).write_text(
                f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {_secret(rng)}\n"
            )
            planted.append({"key_id": key, "account_id": account, "path": str(rel)})
            if len(planted) % 2:
                to_remove.append(rel)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"commit {c // per_commit}")
        while len(to_remove) > 2:
            (repo / to_remove.pop(0)).unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "remove leaked keys", "--allow-empty")
    return repo, planted


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    stdout: bytes
    code: int


# Linux carries the parent's peak RSS into a child's ru_maxrss across fork and exec, so the
# contender is started by this small helper, not by the (large) bench process itself.
MEASURE_SCRIPT = r"""
import json, os, subprocess, sys, time
out_path, cwd, *cmd = sys.argv[1:]
with open(out_path, "wb") as out:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd or None, stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "maxrss_kb": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def _measure(cmd: list[str], cwd: Path | None = None) -> Run:
    """Wall time and the child's own peak RSS (``os.wait4`` rusage of exactly that child)."""
    with tempfile.NamedTemporaryFile() as out:
        helper = subprocess.run(
            [PYTHON, "-c", MEASURE_SCRIPT, out.name, str(cwd or ""), *cmd],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(helper.stdout)
        return Run(result["seconds"], result["maxrss_kb"] / 1024, out.read(), result["code"])


def _leak_scan(*args: str, cwd: Path | None = None) -> Run:
    return _measure(
        [PYTHON, "-m", "leak_scan", "--format", "json", "--no-baseline", "--no-progress", *args],
        cwd=cwd,
    )


def _ds_plugins() -> list[str]:
    out = subprocess.run(
        [str(BIN / "detect-secrets"), "scan", "--list-all-plugins"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [name for name in out.split() if name and name != "AWSKeyDetector"]


def _subtree(corpus: Corpus, max_mb: float) -> tuple[list[str], float]:
    """Top-level folders of the tree, in order, up to ``max_mb`` in all."""
    chosen, total = [], 0
    for entry in sorted(corpus.tree.iterdir()):
        size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        if total and total + size > max_mb * 1e6:
            continue
        chosen.append(entry.name)
        total += size
    return chosen, total / 1e6


def _recall(found_ids: set[str], planted: list[dict[str, Any]]) -> float:
    wanted = {p["key_id"] for p in planted}
    return len(wanted & found_ids) / len(wanted) if wanted else 1.0


def run(size_mb: int = 300, runs: int = 3, ds_max_mb: float | None = 60) -> list[dict[str, Any]]:
    """Build/reuse the corpus, time the three contenders, return the table rows.

    detect-secrets runs once. Its AWS plugin manages well under 1 MB/s here, so by default it
    scans only the first ``ds_max_mb`` of the tree and its time for the whole tree is
    extrapolated by MB/s; the rows say so. ``ds_max_mb=None`` scans the whole tree.
    """
    corpus = build_corpus(size_mb)
    mb = corpus.mb

    leak_runs = [_leak_scan("--max-file-size", "0", str(corpus.tree)) for _ in range(runs)]
    floor_runs = [_measure([PYTHON, "-c", FLOOR_SCRIPT, str(corpus.tree)]) for _ in range(runs)]
    leak_s = statistics.median(r.seconds for r in leak_runs)
    floor_s = statistics.median(r.seconds for r in floor_runs)
    found = {f["key_id"] for f in json.loads(leak_runs[0].stdout)}
    planted_ids = {p["key_id"] for p in corpus.planted}
    leak_recall = _recall(found, corpus.planted)
    secrets_ok = sum(
        1
        for f in json.loads(leak_runs[0].stdout)
        for p in corpus.planted
        if p["key_id"] == f["key_id"] and p["secret"] == f["secret_present"]
    )

    if ds_max_mb is not None and ds_max_mb >= mb:
        ds_max_mb = None
    ds_paths, ds_mb = (["."], mb) if ds_max_mb is None else _subtree(corpus, ds_max_mb)
    disable = [arg for name in _ds_plugins() for arg in ("--disable-plugin", name)]
    ds_run = _measure(
        [str(BIN / "detect-secrets"), "scan", "--all-files", "--no-verify", *disable, *ds_paths],
        cwd=corpus.tree,
    )
    ds_results = json.loads(ds_run.stdout)["results"]
    ds_found = {item.get("hashed_secret") for items in ds_results.values() for item in items}
    import hashlib

    ds_hits = {
        p["key_id"]
        for p in corpus.planted
        if hashlib.sha1(p["key_id"].encode(), usedforsecurity=False).hexdigest() in ds_found
    }
    ds_planted = corpus.planted
    if ds_max_mb is not None:
        ds_planted = [p for p in corpus.planted if Path(p["path"]).parts[0] in ds_paths]
    ds_recall = _recall(ds_hits, ds_planted)
    ds_mbps = ds_mb / ds_run.seconds
    ds_note = "" if ds_max_mb is None else f" (measured on {ds_mb:.0f} MB, extrapolated by MB/s)"
    ds_s = mb / ds_mbps

    large = _leak_scan("--max-file-size", "0", str(corpus.large_file))
    large_mb = corpus.large_file.stat().st_size / 1e6
    history = _leak_scan("--history", cwd=corpus.history)
    history_found = {f["key_id"] for f in json.loads(history.stdout)}
    history_recall = _recall(history_found, corpus.history_planted)
    history_mb = sum(p.stat().st_size for p in (corpus.history / ".git").rglob("*") if p.is_file())

    leak_mbps, floor_mbps = mb / leak_s, mb / floor_s
    speedup = ds_s / leak_s
    over_floor = leak_s / floor_s
    rss_limit = 200.0
    return [
        {
            "figure": f"scanner: leak-scan on {mb:.0f} MB (s, median of {runs})",
            "value": round(leak_s, 2),
            "baseline": round(ds_s, 1),
            "ratio": round(speedup, 1),
            "target": ">= 30x faster than detect-secrets AWS plugin" + ds_note,
            "ok": speedup >= 30,
        },
        {
            "figure": "scanner: leak-scan vs plain re floor (s)",
            "value": round(leak_s, 2),
            "baseline": round(floor_s, 2),
            "ratio": round(over_floor, 2),
            "target": "<= 3x the regex floor",
            "ok": over_floor <= 3,
        },
        {
            "figure": "scanner: throughput MB/s (leak-scan / floor / detect-secrets)",
            "value": round(leak_mbps, 1),
            "baseline": f"{floor_mbps:.1f} / {ds_mbps:.2f}{ds_note}",
            "ratio": round(leak_mbps / ds_mbps, 1),
            "target": "informational",
            "ok": True,
        },
        {
            "figure": f"scanner: recall on {len(planted_ids)} planted keys (8 encodings)",
            "value": f"{leak_recall:.0%}",
            "baseline": f"{ds_recall:.0%} (detect-secrets)",
            "ratio": round(leak_recall / ds_recall, 2) if ds_recall else None,
            "target": "100%",
            "ok": leak_recall == 1.0,
        },
        {
            "figure": "scanner: secret_present right for planted keys",
            "value": f"{secrets_ok}/{len(corpus.planted)}",
            "baseline": None,
            "ratio": None,
            "target": "all",
            "ok": secrets_ok == len(corpus.planted),
        },
        {
            "figure": "scanner: unplanted hits in real text (possible false positives)",
            "value": len(found - planted_ids),
            "baseline": None,
            "ratio": None,
            "target": "informational",
            "ok": True,
        },
        {
            "figure": f"scanner: peak RSS on the largest file ({large_mb:.0f} MB), MB",
            "value": round(large.max_rss_mb, 1),
            "baseline": round(large_mb, 1),
            "ratio": round(large.max_rss_mb / large_mb, 2),
            "target": f"flat: <= {rss_limit:.0f} MB whatever the file size",
            "ok": large.max_rss_mb <= rss_limit,
        },
        {
            "figure": f"scanner: history scan of {len(corpus.history_planted)} planted keys "
            f"({history_mb / 1e6:.0f} MB .git), peak RSS MB",
            "value": round(history.max_rss_mb, 1),
            "baseline": f"recall {history_recall:.0%}, {history.seconds:.1f} s",
            "ratio": None,
            "target": f"<= {rss_limit:.0f} MB, 100% recall",
            "ok": history.max_rss_mb <= rss_limit and history_recall == 1.0,
        },
    ]


def format_rows(rows: list[dict[str, Any]]) -> str:
    headers = ["figure", "value", "baseline", "ratio", "target", "ok"]
    cells = [[str(r.get(h, "")) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size_mb", nargs="?", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ds-max-mb", type=float, default=60, help="0 = whole tree")
    args = parser.parse_args(argv)
    rows = run(args.size_mb, runs=args.runs, ds_max_mb=args.ds_max_mb or None)
    print(format_rows(rows))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
