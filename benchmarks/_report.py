"""Turn the results into rows (ours, floor, peers, ratio, target, met?), a Markdown table, a
JSON file and a chart. Targets are reported, never asserted."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IMPLS = ("ours", "floor", "floor-lib", "openai-sdk", "reference")
#: What a table cell shows when there is no value.
NONE = "-"


@dataclass
class Row:
    figure: str  # what is measured (also the chart panel)
    backend: str
    path: str
    unit: str
    values: dict[str, float | None]
    target: str = ""
    met: bool | None = None
    note: str = ""
    lower_is_better: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        ours, floor = self.values.get("ours"), self.values.get("floor")
        if ours is None or floor is None or floor == 0:
            return None
        return ours / floor

    @property
    def ahead_of_sdk(self) -> bool | None:
        ours, sdk = self.values.get("ours"), self.values.get("openai-sdk")
        if ours is None or sdk is None:
            return None
        return ours < sdk if self.lower_is_better else ours > sdk


def _median(summary: Any) -> float | None:
    if isinstance(summary, dict):
        value = summary.get("median")
        return None if value is None else float(value)
    return None


def _ratio_target(row: Row, limit: float) -> None:
    row.target = f"<= {limit:g}x floor"
    row.met = None if row.ratio is None else row.ratio <= limit


def build_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    reference = results.get("reference") or {}
    for backend, figures in _with_ws_floor(results.get("backends", {})).items():
        rows += _cpu_rows(backend, figures.get("cpu", {}), reference)
        rows += _ttft_rows(backend, figures.get("ttft", {}), reference)
        rows += _barge_rows(backend, figures.get("bargein", {}), reference)
        rows += _concurrency_rows(backend, figures.get("concurrency", {}))
        rows += _idle_rows(backend, figures.get("idle", {}))
    rows += _import_rows(results.get("import", {}))
    return rows + _next_token_rows(rows)


def _with_ws_floor(backends: dict[str, Any]) -> dict[str, Any]:
    """The WebSocket floor is aiohttp, which runs under asyncio only: its asyncio figures are
    the floor of the trio rows too (copied into them; the asyncio results are unchanged)."""
    source = backends.get("asyncio") or {}
    out = dict(backends)
    for backend, figures in backends.items():
        if backend == "asyncio":
            continue
        figures = json.loads(json.dumps(figures))  # a copy to fill in
        for figure in ("cpu", "ttft"):
            floor = ((source.get(figure) or {}).get("ws") or {}).get("floor")
            target = (figures.get(figure) or {}).get("ws")
            if floor is not None and target is not None:
                target.setdefault("floor", floor)
        for size, per in ((figures.get("concurrency") or {}).get("ws") or {}).items():
            floor = ((source.get("concurrency") or {}).get("ws") or {}).get(size, {}).get("floor")
            if floor is not None:
                per.setdefault("floor", floor)
        for scenario, per in ((figures.get("bargein") or {}).get("ws") or {}).items():
            floor = ((source.get("bargein") or {}).get("ws") or {}).get(scenario, {}).get("floor")
            if floor is not None:
                per.setdefault("floor", floor)
        out[backend] = figures
    return out


def _next_token_rows(rows: list[Row]) -> list[Row]:
    """WebSocket: the first token of the turn after a barge-in against a warm turn's, ours and
    the floor's (each against its own warm turn, same run). The floor's ratio is what the
    server costs: its next turn only sends on a spare opened before the trial, so whatever
    it waits beyond a warm turn is the server's (closing the interrupted socket while it
    answers on the spare)."""
    out = []
    for barge in rows:
        if barge.path != "ws" or not barge.figure.startswith("Barge-in: cancel to next turn"):
            continue
        warm = next(
            (
                r
                for r in rows
                if r.figure == "Warm TTFT, turns 1-10"
                and (r.backend, r.path) == (barge.backend, "ws")
            ),
            None,
        )
        ours = barge.values.get("ours")
        turn = warm.values.get("ours") if warm is not None else None
        if ours is None or turn is None:
            continue
        label = barge.figure.removeprefix("Barge-in: cancel to ")
        values: dict[str, float | None] = {"ours": ours / turn}
        row = Row(f"Barge-in: {label} / warm TTFT", barge.backend, "ws", "x", values)
        row.target, row.met = "<= 2x", ours / turn <= 2.0
        row.note = f"{ours:.2f} ms after the cancel; a warm turn's first token {turn:.2f} ms"
        floor = barge.values.get("floor")
        floor_turn = warm.values.get("floor") if warm is not None else None
        if floor is not None and floor_turn:
            values["floor"] = floor / floor_turn
            row.note += (
                f"; floor {floor:.2f} ms after the cancel, {floor / floor_turn:.2f}x its warm "
                f"turn's {floor_turn:.2f} ms"
            )
        out.append(row)
    return out


def _ref(reference: dict[str, Any], backend: str, path: str, *keys: str) -> float | None:
    if backend != "asyncio" or path not in ("http", "http1") or "failed" in reference:
        return None
    node: Any = reference
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return _median(node)


def _cpu_rows(backend: str, cpu: dict[str, Any], reference: dict[str, Any]) -> list[Row]:
    rows = []
    scope = cpu.get("_scope_us")
    for path, per in cpu.items():
        if path.startswith("_"):
            continue
        values = {name: _median(per[name]["cpu_us_per_chunk"]) for name in per}
        values["reference"] = _ref(reference, backend, path, "cpu", "reference", "cpu_us_per_chunk")
        row = Row("CPU per chunk", backend, path, "µs", values)
        # Floors: httpx stream + json.loads (HTTP), aiohttp receive + json.loads (WebSocket).
        _ratio_target(row, 1.5 if path == "ws" else 1.0)
        notes = []
        if scope:
            # The floor ends no barge-in; any client that does pays this per network read.
            notes.append(f"one cancel scope per read costs {scope['no_deadline']:.1f} µs here")
        if path == "responses":
            notes.append(
                "the server replays each reply as first rendered (_rendered.py); "
                "built live: bench_http_pace.py --live-responses"
            )
        if values["reference"] is not None:
            own = _ref(reference, backend, path, "cpu", "floor", "cpu_us_per_chunk")
            notes.append(f"reference's run: its floor {own:.1f} µs")
        row.note = "; ".join(notes)
        rows.append(row)
    return rows


def _ttft_rows(backend: str, ttft: dict[str, Any], reference: dict[str, Any]) -> list[Row]:
    rows = []
    for key, build in (ttft.get("_request_build_us") or {}).items():
        turn = key.split("_")[1]
        values = {"ours": build["ours"], "floor": build["floor"]}
        row = Row(f"Request build before any I/O, turn {turn}", backend, "http", "µs", values)
        row.note = f"{build['messages']} messages; ours = llm.chat(ctx), floor = build_request"
        rows.append(row)
    for path, per in ttft.items():
        if path.startswith("_"):
            continue
        names = [n for n in per if not n.startswith("_")]
        opened = per.get("_new_connections_during_timed_turns", [])
        warm = f"connections opened during the timed turns: {opened}" if opened else ""
        for window, key in (("turns 1-10", "first10_ms"), ("turns 41-50", "last10_ms")):
            values = {n: _median(per[n][key]) for n in names}
            values["reference"] = _ref(reference, backend, path, "ttft", "reference", key)
            row = Row(f"Warm TTFT, {window}", backend, path, "ms", values, note=warm)
            ours, floor = values.get("ours"), values.get("floor")
            margin = 0.1 if path == "ws" else 0.3
            row.target = f"<= floor + {margin:g} ms"
            row.met = None if ours is None or floor is None else ours <= floor + margin
            rows.append(row)
        growth = {}
        for n in names:
            first, last = _median(per[n]["first10_ms"]), _median(per[n]["last10_ms"])
            growth[n] = None if first is None or last is None else last - first
        ref_first = _ref(reference, backend, path, "ttft", "reference", "first10_ms")
        ref_last = _ref(reference, backend, path, "ttft", "reference", "last10_ms")
        growth["reference"] = (
            None if ref_first is None or ref_last is None else ref_last - ref_first
        )
        row = Row("TTFT growth, turns 1-10 to 41-50", backend, path, "ms", growth)
        row.target = "flat: <= floor's growth + 0.1 ms"
        ours, floor = growth.get("ours"), growth.get("floor")
        row.met = None if ours is None or floor is None else ours <= floor + 0.1
        rows.append(row)
    return rows


def _barge_rows(backend: str, barge: dict[str, Any], reference: dict[str, Any]) -> list[Row]:
    rows = []
    for variant, scenarios in barge.items():
        path = {"ws": "ws", "responses": "responses", "http2": "http (HTTP/2)"}.get(
            variant, "http (HTTP/1.1)"
        )
        for scenario, per in scenarios.items():
            label = "50 chunks/s" if scenario == "paced" else "stalled server"
            ref = None
            ref_result = None
            if backend == "asyncio" and variant == "http1" and "failed" not in reference:
                ref_result = (reference.get("barge_in") or {}).get(scenario)
            exit_values = {n: _median(per[n]["to_exit_ms"]) for n in per}
            notes = []
            for n in per:
                worst = per[n]["to_exit_ms"].get("max")
                if worst is not None:
                    notes.append(f"{n} worst {worst:.2f} ms")
                if per[n].get("failures"):
                    notes.append(f"{n}: {per[n]['failures'][0]}")
            if ref_result is not None:
                ref = _median(ref_result["to_exit_ms"])
                if ref_result.get("failures"):
                    notes.append(f"reference: {ref_result['failures'][0]}")
            exit_values["reference"] = ref
            row = Row(f"Barge-in: cancel to loop exit ({label})", backend, path, "ms", exit_values)
            row.target = "<= 1 ms (median)"
            ours = exit_values.get("ours")
            row.met = None if ours is None else ours <= 1.0
            row.note = "; ".join(notes)
            rows.append(row)
            next_values = {n: _median(per[n]["to_next_token_ms"]) for n in per}
            next_values["reference"] = (
                _median(ref_result["to_next_token_ms"]) if ref_result is not None else None
            )
            row = Row(
                f"Barge-in: cancel to next turn's first token ({label})",
                backend,
                path,
                "ms",
                next_values,
            )
            conns = {n: per[n]["new_connections"] for n in per}
            spare = per.get("ours", {}).get("warm_spare_used")
            if variant == "http2":
                row.target = "no new connection (HTTP/2)"
                row.met = bool(conns.get("ours")) and all(c == 0 for c in conns["ours"])
            elif variant == "ws":
                row.target = "takes a warm spare (WS)"
                row.met = spare is not None and spare.split("/")[0] == spare.split("/")[1]
            row.note = f"new connections per trial: {conns}" + (
                f"; warm spare used {spare}" if spare else ""
            )
            rows.append(row)
    return rows


def _concurrency_rows(backend: str, conc: dict[str, Any]) -> list[Row]:
    rows = []
    for path, sizes in conc.items():
        for size, per in sizes.items():
            for metric, label, unit, scale in (
                ("total_wall", "wall (setup+stream+close)", "s", 1.0),
                ("stream_wall", "wall of the streaming phase", "s", 1.0),
                ("total_cpu", "client CPU", "s", 1.0),
                ("peak_rss_mb", "peak RSS", "MB", 1.0),
            ):
                values = {n: _scaled(per[n].get(metric), scale) for n in per}
                row = Row(f"{size} sessions: {label}", backend, path, unit, values)
                if metric == "total_wall" and int(size) >= 1000:
                    _ratio_target(row, 1.5)
                notes = []
                for n in per:
                    if per[n].get("failed"):
                        notes.append(f"{n} failed: {per[n]['failed'][0][:80]}")
                    if per[n].get("errors"):
                        notes.append(f"{n} errors: {str(per[n]['errors'][0])[:80]}")
                    if metric == "total_wall" and per[n].get("connections_per_run"):
                        notes.append(f"{n} conns {per[n]['connections_per_run']}")
                    if metric == "total_wall" and per[n].get("setup_wall"):
                        setup = _median(per[n]["setup_wall"])
                        close = _median(per[n]["close_wall"])
                        if setup is not None and close is not None:
                            notes.append(f"{n} setup {setup:.2f} s, close {close:.2f} s")
                row.note = "; ".join(notes)
                rows.append(row)
    return rows


def _scaled(summary: Any, scale: float) -> float | None:
    value = _median(summary)
    return None if value is None else value * scale


def _idle_rows(backend: str, idle: dict[str, Any]) -> list[Row]:
    if not idle:
        return []
    rows = []
    constructed, entered, sdk = idle.get("constructed"), idle.get("entered"), idle.get("openai_sdk")
    sdk = sdk if isinstance(sdk, dict) else None
    if constructed:
        values = {
            "ours": constructed["bytes_per_instance"] / 1024,
            "openai-sdk": sdk["bytes_per_instance"] / 1024 if sdk else None,
        }
        row = Row("Idle instance, constructed: memory (tracemalloc)", backend, "-", "KB", values)
        row.target, row.met = "< 50 KB", values["ours"] < 50
        rows.append(row)
        values = {
            "ours": constructed["construct_ms_median"],
            "openai-sdk": sdk["construct_ms_median"] if sdk else None,
        }
        row = Row("Idle instance, constructed: time to construct", backend, "-", "ms", values)
        row.target, row.met = "< 0.1 ms", values["ours"] < 0.1
        rows.append(row)
    if entered:
        values = {
            "ours": entered["rss_kb_per_instance"],
            "openai-sdk": sdk["rss_kb_per_instance"] if sdk else None,
        }
        row = Row("Idle instance, entered (async with): RSS", backend, "-", "KB", values)
        row.target, row.met = "< 50 KB", values["ours"] < 50
        row.note = (
            f"tracemalloc sees {entered['bytes_per_instance'] / 1024:.1f} KB; the rest is "
            "OpenSSL's (one SSLContext per httpx.AsyncClient)"
        )
        rows.append(row)
        values = {
            "ours": entered["enter_ms_median"],
            "openai-sdk": sdk["construct_ms_median"] if sdk else None,
        }
        row = Row("Idle instance, entered: time to enter", backend, "-", "ms", values)
        row.target, row.met = "< 0.1 ms", values["ours"] < 0.1
        row.note = "the SDK column is its constructor, which builds its client"
        rows.append(row)
    return rows


def _import_rows(imports: dict[str, Any]) -> list[Row]:
    if not imports:
        return []
    values = {name: (imports[name]["import_ms"] if name in imports else None) for name in IMPLS}
    row = Row("Import time (fresh interpreter, minus `pass`)", "-", "-", "ms", values)
    row.target = "< 150 ms"
    row.met = values["ours"] is not None and values["ours"] < 150
    row.note = (
        "floor = `import httpx`; reference = `import videosdk.plugins.openai`; bytecode "
        "compiled first, as pip does (where click is installed, httpx also imports its CLI: "
        "about +70 ms for every client built on httpx)"
    )
    return [row]


# --- output ---------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _yes(value: bool | None) -> str:
    return NONE if value is None else ("yes" if value else "**no**")


def markdown(rows: list[Row]) -> str:
    head = (
        "| Figure | Backend | Path | ours | floor | ours/floor | same-library floor "
        "| openai-sdk | reference | target | met | ahead of SDK | note |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        ratio = NONE if r.ratio is None else f"{r.ratio:.2f}x"
        v = r.values
        lines.append(
            f"| {r.figure} ({r.unit}) | {r.backend} | {r.path} | {_fmt(v.get('ours'))} "
            f"| {_fmt(v.get('floor'))} | {ratio} | {_fmt(v.get('floor-lib'))} "
            f"| {_fmt(v.get('openai-sdk'))} "
            f"| {_fmt(v.get('reference'))} | {r.target} | {_yes(r.met)} "
            f"| {_yes(r.ahead_of_sdk)} | {r.note} |"
        )
    return head + "\n".join(lines) + "\n"


def write_json(path: Path, results: dict[str, Any], rows: list[Row]) -> None:
    data = dict(results)
    data["rows"] = [{**asdict(r), "ratio": r.ratio, "ahead_of_sdk": r.ahead_of_sdk} for r in rows]
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


CHART_PANELS = (
    "CPU per chunk",
    "Warm TTFT, turns 1-10",
    "Warm TTFT, turns 41-50",
    "Barge-in: cancel to loop exit (50 chunks/s)",
    "Barge-in: cancel to loop exit (stalled server)",
    "Barge-in: cancel to next turn's first token (50 chunks/s)",
    "Barge-in: cancel to next turn's first token (stalled server)",
    "200 sessions: wall (setup+stream+close)",
    "1000 sessions: wall (setup+stream+close)",
    "1000 sessions: wall of the streaming phase",
    "1000 sessions: client CPU",
    "1000 sessions: peak RSS",
    "Idle instance, entered (async with): RSS",
    "Idle instance, entered: time to enter",
    "Import time (fresh interpreter, minus `pass`)",
)
COLORS = {
    "ours": "#1f77b4",
    "floor": "#7f7f7f",
    "floor-lib": "#bcbcbc",
    "openai-sdk": "#d62728",
    "reference": "#ff7f0e",
}


def chart(path: Path, rows: list[Row], title: str) -> str | None:
    """A grid of bar charts, one panel per figure; None, or why there is no chart."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"no chart: matplotlib is not installed ({exc})"
    panels = [(name, [r for r in rows if r.figure == name]) for name in CHART_PANELS]
    panels = [(name, rs) for name, rs in panels if rs]
    if not panels:
        return "no chart: no rows"
    cols = 3
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(cols * 6.2, nrows * 3.6), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (name, rs) in zip(axes.flat, panels, strict=False):
        groups = [f"{r.backend}\n{r.path}" if r.backend != "-" else "" for r in rs]
        impls = [i for i in IMPLS if any(r.values.get(i) is not None for r in rs)]
        width = 0.8 / max(len(impls), 1)
        for k, impl in enumerate(impls):
            xs = [g + (k - (len(impls) - 1) / 2) * width for g in range(len(rs))]
            ys = [r.values.get(impl) or 0.0 for r in rs]
            bars = ax.bar(xs, ys, width, label=impl, color=COLORS[impl])
            for bar, r in zip(bars, rs, strict=True):
                value = r.values.get(impl)
                if value is not None:
                    ax.annotate(
                        _fmt(value),
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
        ax.set_xticks(range(len(rs)))
        ax.set_xticklabels(groups, fontsize=7)
        ax.set_title(f"{name} ({rs[0].unit})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.975))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None
