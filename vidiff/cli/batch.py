"""``vidiff batch``: a folder (tree) of videos to a new frame rate, resumable and fault-isolated."""

from __future__ import annotations

import argparse
import signal
import sys

from .common import add_interpolate_options, interpolate_kwargs

EXAMPLES = """examples:
  vidiff batch clips/ -o clips60/ --fps 60 --recursive       # clips/a/b.mp4 -> clips60/a/b.60fps.mp4
  vidiff batch clips/ -o clips2x/ --multi 2 --jobs 2 --steps 0
  vidiff batch clips/ -o out/ --fps 60 --devices cuda:0,cuda:1   # two files at once, one per GPU
  vidiff batch /shared/clips -o /shared/out --fps 60 --ray auto  # one Ray task per file
  vidiff batch clips/ -o out/ --fps 60 --dry-run              # what would be done or skipped

Inputs are the video files (.mp4 .mkv .mov .webm .avi .gif) in INPUT_DIR (with --recursive, its
whole tree); --pattern selects files by glob instead. Folders of frames are not batch inputs
(convert each with `vidiff interpolate`). Nothing is written inside INPUT_DIR.

OUTPUT_DIR/vidiff-batch.jsonl records every input (size, mtime, options, status, error, output,
timings). Running the same command again skips what is done and redoes what failed, changed or
was interrupted; inputs rejected as invalid (not a video, corrupt, too short) are retried only
once they change. An interrupted run (Ctrl-C, kill, power loss) loses at most the files in
progress and never leaves partial outputs.

exit status: 0 every input is converted (now or earlier), 1 some input failed (now, or earlier
and unchanged since), 2 bad usage, 130 interrupted.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch", help="convert a folder of videos (resumable, one failure never stops the rest)",
        description="Convert every video in a folder (tree) to a new frame rate, mirroring the "
        "tree into OUTPUT_DIR, on several processes, GPUs or a Ray cluster.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input_dir", metavar="INPUT_DIR", help="folder of videos (never written to)")
    p.add_argument(
        "-o", "--output", dest="output_dir", metavar="OUTPUT_DIR", required=True,
        help="output folder (created; must not be inside INPUT_DIR); holds the manifest",
    )
    g = p.add_argument_group("batch")
    g.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    g.add_argument(
        "--pattern", metavar="GLOB",
        help="select files whose relative path matches GLOB, e.g. '*.mov' or 'day1/*' "
        "(default: every file with a video suffix)",
    )
    g.add_argument(
        "-j", "--jobs", type=int, default=None,
        help="files converted at once, each in its own process (default: one per --devices "
        "entry, else 1; with --ray: as many as the cluster has CPUs)",
    )
    g.add_argument(
        "--devices", metavar="LIST",
        help="comma-separated devices shared out among the running files, e.g. cuda:0,cuda:1 "
        "(default: --device)",
    )
    g.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS",
        help="run one Ray task per file: on a new local Ray runtime, or on the cluster at "
        "ADDRESS (auto, host:6379, ray://host:10001); INPUT_DIR and OUTPUT_DIR must be at the "
        "same paths on every node. Needs: pip install 'vidiff[ray]'",
    )
    g.add_argument(
        "--gpus-per-task", type=float, default=None,
        help="GPUs each Ray task asks for (default: 1 when the cluster has GPUs and --device "
        "is not cpu, else 0)",
    )
    g.add_argument(
        "--retry", type=int, default=0, metavar="K",
        help="retry a failed file up to K times (invalid inputs are not retried) (default: 0)",
    )
    g.add_argument("--dry-run", action="store_true", help="list what would be done; write nothing")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars (summary only)")
    add_interpolate_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..jobs.batch import BatchInterrupted, batch_convert

    kwargs = interpolate_kwargs(args)
    fps, multi = kwargs.pop("fps"), kwargs.pop("multi")
    previous = _sigterm_interrupts()
    try:
        result = batch_convert(
            args.input_dir, args.output_dir, fps=fps, multi=multi, recursive=args.recursive,
            pattern=args.pattern, jobs=args.jobs, devices=args.devices,
            ray=args.ray, gpus_per_task=args.gpus_per_task, retry=args.retry,
            dry_run=args.dry_run, progress=not args.quiet, **kwargs,
        )
    except BatchInterrupted as exc:
        print(format_summary(exc.result), file=sys.stderr)
        print(
            "vidiff: interrupted; files in progress were discarded (no partial output). "
            "Run the same command again to continue.", file=sys.stderr,
        )
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(format_summary(result, dry_run=args.dry_run), file=sys.stderr)
    return 0 if result.ok or args.dry_run else 1


def _sigterm_interrupts():
    """Treat SIGTERM like Ctrl-C (cancel cleanly); returns the previous handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def format_summary(result, dry_run: bool = False, max_skipped: int = 10) -> str:
    """The end-of-run table: one row per input (skipped ones folded when many), then totals."""
    rows = []
    skipped = [e for e in result.entries if e.status == "skipped"]
    for e in result.entries:
        if e.status == "skipped" and len(skipped) > max_skipped:
            continue
        if e.status == "failed":
            what = f"{e.error}" + (" (earlier run; unchanged since)" if e.earlier else "")
        elif e.status == "skipped":
            what = f"{e.output} (done earlier)"
        elif e.status == "pending":
            what = f"-> {e.output}"
        else:
            what = f"{e.output}  {e.frames} frames, {e.seconds:.1f} s"
        status = "to do" if e.status == "pending" else e.status
        rows.append((status, e.input, what))
    lines = []
    if rows:
        w0 = max(len(r[0]) for r in rows)
        w1 = min(max(len(r[1]) for r in rows), 50)
        lines += [f"{s:<{w0}}  {i:<{w1}}  {w}" for s, i, w in rows]
    if len(skipped) > max_skipped:
        lines.append(f"(and {len(skipped)} files skipped: done in earlier runs)")
    counts = {s: result.count(s) for s in ("done", "skipped", "failed", "pending")}
    if dry_run:
        total = f"dry run: {counts['pending']} to do, {counts['skipped']} done earlier, " \
                f"{counts['failed']} failed earlier"
    else:
        rate = result.frames / result.seconds if result.seconds else 0.0
        total = (
            f"{len(result.entries)} inputs: {counts['done']} done, {counts['skipped']} skipped, "
            f"{counts['failed']} failed; {result.frames} frames in {result.seconds:.1f} s "
            f"({rate:.1f} frame/s); manifest: {result.manifest}"
        )
    if not result.entries:
        total = f"no inputs found in {result.input_dir}"
    lines.append(total)
    return "\n".join(lines)
