"""Charts of a benchmark report (``tools/benchmark.py``'s markdown) as PNG files.

    python tools/plots.py REPORT.md --out DIR

Reads the report's tables (the same text ``benchmark.py --out`` writes, so figures are never
typed in by hand) and writes, for what the report holds:

- ``quality_psnr.png``: mean PSNR per method, grouped by benchmark set (bars, value on each);
- ``speed_vs_quality.png``: per set, each method as a point at (ms per frame, PSNR);
- ``speed_fps.png``: end-to-end output frames per second per clip size and tool (bars).

Headless: matplotlib's ``Agg`` backend, no display needed. ``benchmark.py --plots DIR`` calls
:func:`write_plots` on its own report.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_SET_HEADING = re.compile(r"^###\s+(\S+)\s+\((\d+) triplets\)")


def _rows(lines: list[str], start: int) -> tuple[list[str], list[list[str]], int]:
    """The markdown table starting at or after line ``start``: (header, rows, next line)."""
    i = start
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    table = []
    while i < len(lines) and lines[i].startswith("|"):
        table.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
        i += 1
    if len(table) < 2:
        return [], [], i
    return table[0], [r for r in table[2:] if len(r) == len(table[0])], i


def parse_report(text: str) -> dict:
    """``{"quality": {set: {method: {"psnr", "ssim", "ie", "ms"}}}, "speed": [row dicts]}``
    from a benchmark report; sections the report lacks are empty."""
    lines = text.splitlines()
    quality: dict[str, dict[str, dict[str, float]]] = {}
    speed: list[dict[str, str]] = []
    i = 0
    while i < len(lines):
        heading = _SET_HEADING.match(lines[i])
        if heading:
            header, rows, i = _rows(lines, i + 1)
            if header[:2] == ["method", "PSNR (dB)"]:
                quality[f"{heading.group(1)} ({heading.group(2)})"] = {
                    r[0]: {"psnr": float(r[1]), "ssim": float(r[2]), "ie": float(r[3]),
                           "ms": float(r[4])}
                    for r in rows
                }
            continue
        if lines[i].startswith("## Speed"):
            header, rows, i = _rows(lines, i + 1)
            speed = [dict(zip(header, r)) for r in rows]
            continue
        i += 1
    return {"quality": quality, "speed": speed}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def quality_chart(quality: dict, path: Path) -> Path:
    """Grouped bars: PSNR of each method (bars) on each set (groups)."""
    plt = _pyplot()
    sets = list(quality)
    methods = list(dict.fromkeys(m for s in sets for m in quality[s]))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(2.2 + 2.6 * len(sets), 4.2), dpi=100)
    low = min(v["psnr"] for s in sets for v in quality[s].values())
    for k, method in enumerate(methods):
        xs = [j + (k - (len(methods) - 1) / 2) * width for j, s in enumerate(sets)
              if method in quality[s]]
        ys = [quality[s][method]["psnr"] for s in sets if method in quality[s]]
        bars = ax.bar(xs, ys, width, label=method)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel("PSNR (dB), middle frame vs ground truth")
    ax.set_ylim(max(0, low - 3), None)
    ax.set_title("Interpolation quality (higher is better)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def speed_quality_chart(quality: dict, path: Path) -> Path:
    """One panel per set: each method as a point at (ms per frame, PSNR), x logarithmic; one
    colour per method (as in the quality bars), named in a legend below."""
    plt = _pyplot()
    sets = list(quality)
    methods = list(dict.fromkeys(m for s in sets for m in quality[s]))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 4.2), dpi=100, squeeze=False)
    for ax, name in zip(axes[0], sets):
        for k, method in enumerate(methods):
            if method in quality[name]:
                v = quality[name][method]
                ax.scatter(max(v["ms"], 0.5), v["psnr"], s=50, color=f"C{k}", label=method)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.12)
        ax.set_xlabel("ms per in-between frame (log)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(3, len(methods)), fontsize=7)
    fig.suptitle("Speed vs quality (up and left is better)")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def speed_chart(speed: list[dict], path: Path) -> Path:
    """Grouped bars: output frames per second, end to end, per clip size (groups) and tool."""
    plt = _pyplot()
    sizes = list(dict.fromkeys(r["size"] for r in speed))
    tools = list(dict.fromkeys(r["tool"] for r in speed))
    width = 0.8 / len(tools)
    fig, ax = plt.subplots(figsize=(2.2 + 2.4 * len(sizes), 4), dpi=100)
    for k, tool in enumerate(tools):
        pairs = [(j, float(r["fps out"])) for j, s in enumerate(sizes) for r in speed
                 if r["size"] == s and r["tool"] == tool]
        bars = ax.bar([j + (k - (len(tools) - 1) / 2) * width for j, _ in pairs],
                      [v for _, v in pairs], width, label=tool)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_ylabel("output frames per second")
    ax.set_title("End-to-end speed, 24 -> 60 fps (higher is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(report: str, out_dir: Path) -> list[Path]:
    """Write every chart the report has data for into ``out_dir``; return their paths."""
    data = parse_report(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if data["quality"]:
        written.append(quality_chart(data["quality"], out_dir / "quality_psnr.png"))
        written.append(speed_quality_chart(data["quality"], out_dir / "speed_vs_quality.png"))
    if data["speed"]:
        written.append(speed_chart(data["speed"], out_dir / "speed_fps.png"))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="markdown report of tools/benchmark.py --out")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG charts")
    args = parser.parse_args(argv)
    written = write_plots(args.report.read_text(), args.out)
    if not written:
        print(f"{args.report}: no quality or speed tables found", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
