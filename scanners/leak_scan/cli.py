"""The ``leak-scan`` command. The only place that reads the environment or builds AWS clients."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from leak_responder.redact import redact_secrets, safe_url
from leak_scan import __version__
from leak_scan.baseline import BASELINE_NAME, Baseline, scan_with_detect_secrets
from leak_scan.detector import AwsKeyDetector, hits_to_findings
from leak_scan.errors import LeakScanError
from leak_scan.files import DEFAULT_MAX_FILE_SIZE, PathScanner, looks_binary
from leak_scan.git import origin_url, read_blobs, repo_root, staged_files
from leak_scan.history import count_commits, scan_history
from leak_scan.model import Finding, ScanStats
from leak_scan.output import RENDERERS, sort_key
from leak_scan.progress import Progress
from leak_scan.report import QueueReporter, build_messages
from leak_scan.verify import verify_findings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Set to 1 to see the traceback of an unexpected error (still scrubbed of secrets).
DEBUG_ENV = "LEAK_SCAN_DEBUG"
_ERROR_MAX_CHARS = 500
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)[bB]?$")


def _parse_size(value: str) -> int:
    m = _SIZE.match(value.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {value!r} (e.g. 500000, 10M, 1G)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * scale


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leak-scan",
        description="Find AWS access keys (and, with --staged, other secrets) in files, "
        "staged changes or git history. Exit 0: clean, 1: findings, 2: error.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories (recursive); '-' reads stdin. With --staged: limit the "
        "scan to these staged files (pre-commit passes them).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--staged",
        action="store_true",
        help="scan the staged content (pre-commit hook): also runs detect-secrets' default "
        "plugins and filters, and honours the baseline",
    )
    mode.add_argument(
        "--history",
        nargs="?",
        const="",
        metavar="REV_RANGE",
        help="scan added lines of every commit of all refs (or of REV_RANGE), streamed",
    )
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report here")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip paths equal to, under, or matching this glob (repeatable)",
    )
    parser.add_argument(
        "--max-file-size",
        type=_parse_size,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="SIZE",
        help="skip files larger than this (default 50M; 0 = no limit)",
    )
    parser.add_argument(
        "--scan-binary", action="store_true", help="also scan files that look binary"
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help=f"detect-secrets baseline of accepted secrets (default: {BASELINE_NAME} at the "
        "repository root or current directory, if present)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="ignore any .secrets.baseline")
    parser.add_argument(
        "--report",
        metavar="QUEUE_URL",
        help="send one scanner message (schema v1) per distinct key ID to this SQS queue",
    )
    parser.add_argument(
        "--repository",
        metavar="NAME",
        help="repository named in --report messages (default: git remote origin URL)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="opt-in: check found key pairs with sts:GetCallerIdentity (sends the pair to AWS)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--version", action="version", version=f"leak-scan {__version__}")
    return parser


def _find_baseline(args: argparse.Namespace, root: str | None) -> Baseline:
    if args.no_baseline:
        return Baseline()
    if args.baseline:
        return Baseline.load(args.baseline)
    for folder in filter(None, (root, os.getcwd())):
        candidate = os.path.join(folder, BASELINE_NAME)
        if os.path.exists(candidate):
            return Baseline.load(candidate)
    return Baseline()


def _scan_staged(
    args: argparse.Namespace, detector: AwsKeyDetector, stats: ScanStats
) -> Iterator[Finding]:
    root = repo_root()
    cwd = os.getcwd()
    only = [os.path.relpath(os.path.abspath(p), root) for p in args.paths]
    files = staged_files(root, only)
    blobs = {f.blob: f for f in files}
    contents: list[tuple[str, bytes]] = []
    for blob, data in read_blobs(root, list(blobs)):
        if args.max_file_size and len(data) > args.max_file_size:
            stats.skipped_large += 1
            continue
        if not args.scan_binary and looks_binary(data):
            stats.skipped_binary += 1
            continue
        for staged in files:
            if staged.blob == blob:
                contents.append((staged.path, data))
    baseline = _find_baseline(args, root)
    for path, data in contents:
        if os.path.basename(path) == BASELINE_NAME:
            continue
        stats.files += 1
        stats.bytes += len(data)
        for finding in hits_to_findings(data, detector.hits(data), path=path):
            if not baseline.accepts(finding):
                yield finding
    # detect-secrets resolves relative names against the process's directory.
    os.chdir(root)
    try:
        yield from scan_with_detect_secrets(contents, baseline)
    finally:
        os.chdir(cwd)


def _collect(args: argparse.Namespace, detector: AwsKeyDetector, stats: ScanStats) -> list[Finding]:
    if args.staged:
        found = list(_scan_staged(args, detector, stats))
    elif args.history is not None:
        root = repo_root()
        rev_range = args.history or None
        show = sys.stderr.isatty() and not args.no_progress
        progress = Progress(
            sys.stderr, count_commits(root, rev_range) if show else None, enabled=show
        )
        found = list(scan_history(detector, root, rev_range, progress=progress, stats=stats))
    else:
        scanner = PathScanner(
            detector,
            max_file_size=args.max_file_size,
            scan_binary=args.scan_binary,
            exclude=args.exclude,
            stats=stats,
        )
        baseline = _find_baseline(args, None)
        found = [f for f in scanner.scan_paths(args.paths or ["."]) if not baseline.accepts(f)]
    return sorted(found, key=sort_key)


def _boto3_client(service: str, **kwargs: Any) -> Any:
    import boto3

    # boto3 honours AWS_ENDPOINT_URL itself; passing it explicitly also covers older botocores.
    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    if endpoint:
        kwargs.setdefault("endpoint_url", endpoint)
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def _queue_region(queue_url: str) -> str | None:
    m = re.search(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com", queue_url)
    if m:
        return m.group(1)
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _make_sts(key_id: str, secret: str) -> Any:
    return _boto3_client("sts", aws_access_key_id=key_id, aws_secret_access_key=secret)


def _scrubbed(text: str) -> str:
    # Error text can quote a clone URL with its token, or a line holding a secret key.
    return redact_secrets(safe_url(text))


def _report_error(exc: BaseException) -> None:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        sys.stderr.write(_scrubbed("".join(traceback.format_exception(exc))))
    if isinstance(exc, LeakScanError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    line = " ".join(_scrubbed(text).split())
    if len(line) > _ERROR_MAX_CHARS:
        line = line[:_ERROR_MAX_CHARS] + "…"
    print(f"leak-scan: error: {line}", file=sys.stderr)


def main(
    argv: Sequence[str] | None = None,
    *,
    sqs_factory: Callable[[str], Any] | None = None,
    sts_factory: Callable[[str, str], Any] | None = None,
) -> int:
    """Exit 0: nothing found, 1: findings, 2: usage or runtime error (docs/interfaces.md).

    Any exception, ours or a library's (a bad --output path, a missing AWS profile), is one
    line on stderr and exit 2: exit 1 must mean findings, which CI may treat differently.
    """
    try:
        return _run(argv, sqs_factory, sts_factory)
    except KeyboardInterrupt:
        print("leak-scan: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        _report_error(exc)
        return EXIT_ERROR


def _run(
    argv: Sequence[str] | None,
    sqs_factory: Callable[[str], Any] | None,
    sts_factory: Callable[[str, str], Any] | None,
) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verify and args.staged:
        parser.error("--verify is not available with --staged: the hook never sends keys out")
    detector = AwsKeyDetector(keep_secrets=args.verify)
    stats = ScanStats()
    findings = _collect(args, detector, stats)
    if args.verify:
        findings = verify_findings(findings, sts_factory or _make_sts)
    rendered = RENDERERS[args.format](findings)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(rendered)
    else:
        sys.stdout.write(rendered)
        sys.stdout.flush()
    if args.report:
        messages = build_messages(findings, repository=args.repository or origin_url())
        if messages:
            make_sqs = sqs_factory or (
                lambda url: _boto3_client("sqs", region_name=_queue_region(url))
            )
            sent = QueueReporter(make_sqs(args.report), args.report).send(messages)
            print(
                f"leak-scan: reported {sent} key ID(s) to {safe_url(args.report)}",
                file=sys.stderr,
            )
    if stats.skipped_large:
        print(
            f"leak-scan: skipped {stats.skipped_large} file(s) over --max-file-size",
            file=sys.stderr,
        )
    return EXIT_FINDINGS if findings else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
