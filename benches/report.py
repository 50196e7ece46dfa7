"""The benchmark's outputs: a markdown table (with targets, memory and notes), a JSON dump, a PNG chart.

Every ratio is ``tool time / AutoStore time`` on the same workload in the same run: above 1 means
AutoStore is faster. A tool that returned a wrong result or failed shows as such, never as a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benches.harness import BenchResults, ToolRuns, WorkloadResult
from benches.worker import AUTOSTORE, ORIGINAL

__all__ = ["TARGETS", "TOOL_ORDER", "Target", "render_markdown", "write_chart", "write_report"]

TOOL_ORDER = (
    AUTOSTORE,
    "obstore",
    "boto3",
    "s3fs",
    "fsspec filecache",
    "cloudpathlib",
    "polars",
    "local file",
    "aws cli",
    "s5cmd",
    ORIGINAL,
)
"""Column order of the table; a tool missing here goes after these, in order of appearance."""

MARKDOWN_NAME = "benchmarks.md"
CHART_NAME = "ratios.png"
JSON_NAME = "results.json"


@dataclass(frozen=True)
class Target:
    """A performance goal of issues 3 and 8: ``tool`` at least ``min_ratio`` x slower than AutoStore.

    ``tag`` selects the workloads it applies to (``*``: every workload the tool takes part in).
    """

    text: str
    tag: str
    tool: str
    min_ratio: float


TARGETS = (
    Target("at least as fast as obstore on every transfer workload", "transfer", "obstore", 1.0),
    Target("at least 1.5x boto3 on large transfers", "large-transfer", "boto3", 1.5),
    Target("at least 3x boto3 on batched small objects", "batched-small", "boto3", 3.0),
    Target("at least 3x the original autostore everywhere", "*", ORIGINAL, 3.0),
    Target("a warm-cache read within 1.5x of reading the local file", "cache", "local file", 1 / 1.5),
    Target("glob at least 5x faster than s3fs", "glob", "s3fs", 5.0),
)


def _tools_in_order(workloads: Sequence[WorkloadResult]) -> list[str]:
    seen: list[str] = []
    for workload in workloads:
        for runs in workload.tools:
            if runs.tool not in seen:
                seen.append(runs.tool)
    known = [tool for tool in TOOL_ORDER if tool in seen]
    return known + [tool for tool in seen if tool not in TOOL_ORDER]


def _unit(value: float) -> tuple[float, str, str]:
    """The scale, unit and number format that show ``value`` (and values near it) readably."""
    if value >= 1:
        return 1.0, "s", ".2f"
    if value >= 0.01:
        return 1000.0, "ms", ".0f"
    return 1000.0, "ms", ".1f"


def _median_and_spread(runs: ToolRuns, median: float) -> str:
    """``0.91 s (0.88-0.95)``: the median, then the range of the rounds in the same unit."""
    scale, unit, number = _unit(median)
    text = f"{median * scale:{number}} {unit}"
    if len(runs.seconds) > 1:
        low, high = min(runs.seconds) * scale, max(runs.seconds) * scale
        text += f" ({low:{number}}-{high:{number}})"
    return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


class _Footnotes:
    """Numbered footnotes, each text once."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        # One line, no table separators: messages may carry tracebacks or command output.
        text = " ".join(text.split()).replace("|", "/")
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def _cell(workload: WorkloadResult, tool: str, footnotes: _Footnotes) -> str:
    runs = workload.runs_of(tool)
    if runs is None:
        return "—"
    if runs.skipped:
        return f"skipped {footnotes.ref(runs.skipped)}"
    if runs.failure:
        label = "✗ wrong result" if runs.failure.startswith("wrong result") else "✗ failed"
        return f"{label} {footnotes.ref(f'{tool}, {workload.title}: {runs.failure}')}"
    if runs.median is None:
        return "—"
    text = _median_and_spread(runs, runs.median)
    ratio = workload.ratio(tool)
    if tool != AUTOSTORE and ratio is not None:
        text += f" **x{ratio:.2f}**"
    return text


def _header(results: BenchResults) -> list[str]:
    env, settings = results.environment, results.settings
    versions = env["versions"]
    tools = ", ".join(f"{name} {version}" for name, version in versions.items())
    scale = settings["scale"]
    load = env.get("load_average_at_start")
    lines = [
        "# AutoStore benchmarks",
        "",
        f"- **Date:** {env['date']}; the whole run took {settings.get('duration_seconds', '?')} s.",
        f"- **Machine:** {env['cores']} cores ({env['cpu']}), {env['memory_gib']} GiB memory, "
        f"{env['platform']}, Python {env['python']}"
        + (f"; load average at start {', '.join(map(str, load))}." if load else "."),
        f"- **Versions:** {tools}; {ORIGINAL} from PyPI in its own virtualenv.",
        "- **Server:** one local SeaweedFS S3 server on 127.0.0.1 for the whole run (`weed mini`).",
        f"- **Method:** {_plural(settings['rounds'], 'round')} per workload, tools interleaved round by "
        "round in a rotating order (A B C, B C A, ...), every run a fresh process timed around the work "
        "alone; cells show "
        "the median and (min-max) of the rounds, and **x ratio** = tool time / AutoStore time "
        "(> 1: AutoStore is faster). Every run verifies what it read or wrote (SHA-256, payload "
        "equality, key sets, row counts); a wrong answer shows as ✗, never as a time.",
        f"- **Settings for every tool:** multipart threshold {settings['multipart_threshold'] // 2**20} MiB, "
        f"part size {settings['multipart_chunksize'] // 2**20} MiB, {settings['max_concurrency']} "
        f"concurrent requests per transfer, {settings['batch_concurrency']} in flight for batched "
        "small objects (a thread pool for tools without a batch API).",
    ]
    if settings.get("quick"):
        lines.append(
            f"- **Quick smoke run** (`--quick`): tiny sizes ({scale['transfer_bytes'] // 2**20} MiB "
            "transfers); the numbers say nothing about performance."
        )
    return lines


def _main_table(results: BenchResults, footnotes: _Footnotes) -> list[str]:
    measured = [w for w in results.workloads if w.left_out is None]
    tools = _tools_in_order(measured)
    lines = [
        "| Workload | " + " | ".join(tools) + " |",
        "|---|" + "---|" * len(tools),
    ]
    for workload in measured:
        cells = [_cell(workload, tool, footnotes) for tool in tools]
        title = workload.title + (f" {footnotes.ref(workload.note)}" if workload.note else "")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def _targets_table(results: BenchResults) -> list[str]:
    lines = ["| Target | Workload | Ratio | Met |", "|---|---|---|---|"]
    for target in TARGETS:
        rows = 0
        for workload in results.workloads:
            if workload.left_out or (target.tag != "*" and target.tag not in workload.tags):
                continue
            if workload.runs_of(target.tool) is None:
                continue
            rows += 1
            ratio = workload.ratio(target.tool)
            if ratio is None:
                verdict, shown = "not measured", "—"
            else:
                verdict, shown = ("yes" if ratio >= target.min_ratio else "**no**"), f"x{ratio:.2f}"
            lines.append(
                f"| {target.text} (≥ x{target.min_ratio:.2f}) | {workload.title} | {shown} | {verdict} |"
            )
        if rows == 0:
            lines.append(f"| {target.text} | — | — | not measured in this run |")
    return lines


def _memory_table(results: BenchResults) -> list[str]:
    lines = [
        "| Workload | Tool | Peak RSS (median) | Growth during the timed work |",
        "|---|---|---|---|",
    ]
    for workload in results.workloads:
        if not workload.measure_rss or workload.left_out:
            continue
        for runs in workload.tools:
            if not runs.ok or not runs.rss_peak_kib:
                continue
            peaks = sorted(runs.rss_peak_kib)
            growths = sorted(
                peak - base for peak, base in zip(runs.rss_peak_kib, runs.rss_baseline_kib, strict=True)
            )
            middle = len(peaks) // 2
            lines.append(
                f"| {workload.title} | {runs.tool} | {_mib(peaks[middle])} | {_mib(growths[middle])} |"
            )
    return lines


def render_markdown(results: BenchResults) -> str:
    """The whole report as markdown: header, the table, targets, peak memory and notes."""
    footnotes = _Footnotes()
    lines = [*_header(results), "", "## Results", "", *_main_table(results, footnotes)]
    lines += ["", "## Targets (issues 3 and 8)", "", *_targets_table(results)]
    memory = _memory_table(results)
    if len(memory) > 2:
        lines += [
            "",
            "## Peak memory",
            "",
            "Peak resident set size of each run's process (a fresh process per run, so the peak "
            "includes the interpreter and the tool's imports). The growth is how far the peak rose "
            "during the timed work: a download streamed into its file grows by a few buffers, not by "
            "the object's size; a multipart upload that reads whole parts before sending them holds "
            "up to concurrency x part size of them.",
            "",
            *memory,
        ]
    left_out = [w for w in results.workloads if w.left_out]
    notes = [f"{w.title}: left out, {w.left_out}." for w in left_out] + list(results.notes)
    if footnotes.texts or notes:
        lines += ["", "## Notes", ""]
        lines += [f"{number}. {text}" for number, text in enumerate(footnotes.texts, start=1)]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write_chart(results: BenchResults, path: Path) -> str | None:
    """Draw the ratios as a horizontal bar chart (log scale) at ``path``.

    Returns ``None`` on success, else why no chart was drawn (matplotlib missing, nothing to draw).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed (pip install matplotlib)"
    rows = [
        (workload.title, tool, ratio)
        for workload in results.workloads
        if workload.left_out is None
        for tool in _tools_in_order([workload])
        if tool != AUTOSTORE and (ratio := workload.ratio(tool)) is not None
    ]
    if not rows:
        return "no chart: no tool has a ratio to AutoStore in this run"
    titles = list(dict.fromkeys(title for title, _, _ in rows))
    tools = [tool for tool in _tools_in_order(results.workloads) if any(tool == t for _, t, _ in rows)]
    colors = {tool: plt.get_cmap("tab10")(index % 10) for index, tool in enumerate(tools)}
    figure, axes = plt.subplots(figsize=(10, 1.2 + 0.24 * len(rows) + 0.2 * len(titles)))
    labelled: set[str] = set()
    for group, title in enumerate(titles):
        # Only the tools that have a ratio for this workload share its slot, in table order.
        bars = sorted(
            ((tool, ratio) for t, tool, ratio in rows if t == title), key=lambda bar: tools.index(bar[0])
        )
        height = 0.8 / len(bars)
        for position, (tool, ratio) in enumerate(bars):
            y = group - 0.4 + height * (position + 0.5)
            axes.barh(
                y, ratio, height=height * 0.9, color=colors[tool], label=None if tool in labelled else tool
            )
            axes.annotate(
                f"x{ratio:.2f}",
                (ratio, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
            labelled.add(tool)
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xscale("log")
    low = min(ratio for _, _, ratio in rows)
    high = max(ratio for _, _, ratio in rows)
    axes.set_xlim(min(0.5, low / 1.5), max(2.0, high * 2.5))
    axes.set_yticks(range(len(titles)))
    axes.set_yticklabels(titles)
    axes.invert_yaxis()
    axes.set_xlabel("tool time / AutoStore time (log scale; > 1: AutoStore is faster)")
    axes.set_title(f"AutoStore vs alternatives — {results.environment['date']}")
    handles, labels = axes.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda index: tools.index(labels[index]))
    axes.legend(
        [handles[index] for index in order],
        [labels[index] for index in order],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
    )
    axes.grid(axis="x", which="both", alpha=0.3)
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return None


def write_report(results: BenchResults, out_dir: Path) -> str:
    """Write ``benchmarks.md``, ``results.json`` and ``ratios.png`` into ``out_dir``; return the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_problem = write_chart(results, out_dir / CHART_NAME)
    if chart_problem:
        results.notes.append(chart_problem)
    markdown = render_markdown(results)
    (out_dir / MARKDOWN_NAME).write_text(markdown, encoding="utf-8")
    (out_dir / JSON_NAME).write_text(results.to_json() + "\n", encoding="utf-8")
    return markdown
