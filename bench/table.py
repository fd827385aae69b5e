"""The lever table and its companions as text, and the results block of bench/README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
HEADERS = ["model", "backend", "precision", "file MB", "notes/s", "x pipeline", "load+1st batch s", "peak RSS MB",
           "test macro-F1", "panel passed", "agree vs fp32", "max |Δp| vs fp32", "batch inv. max |Δp|"]  # fmt: skip


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def header(result: dict[str, Any]) -> list[str]:
    """The run, the machine (CPU flags included) and the workload, one line each."""
    m, tok, w = result["machine"], result["tokens"], result["workload"]
    v = m["versions"]
    amx = "AMX present" if m.get("amx") else "no AMX"
    mid = tok["tokens_model_input"]
    return [
        f"notescore benchmark — {result['kind']} — {result['date']}",
        f"machine: {m['cpu']}, {m['usable_cores']} cores, {(m['memory_bytes'] or 0) / 2**30:.0f} GiB; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_average_start'] or [])}",
        f"cpu flags: {' '.join(m.get('cpu_flags') or []) or '-'} ({amx})",
        "versions: " + ", ".join(f"{k} {v[k]}" for k in ("python", "onnxruntime", "openvino", "torch", "transformers")
                                 if v.get(k)),
        f"workload: {w['notes']:,} notes drawn (seed {w['seed']}) from {w['pool']:,} project notes; tokens per note "
        f"(model input, max {tok['max_length']}): median {mid['p50']:.0f}, p90 {mid['p90']:.0f}, "
        f"mean {mid['mean']:.0f}; "
        f"speed rows run the first {result['engine_notes']:,}; threads {result.get('threads') or 'all cores'}",
    ]  # fmt: skip


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _panel_cell(row: dict[str, Any]) -> str:
    panel = row.get("panel")
    if not isinstance(panel, list):
        return "-" if panel is None else "skipped"
    scored = [p for p in panel if p["passed"] is not None]
    return f"{sum(p['passed'] for p in scored)}/{len(scored)}"


def lever_row(r: dict[str, Any], reasons: list[str], shipped: str) -> list[str]:
    """One row of the lever table (a skipped row points at its reason in ``reasons``, added there once)."""
    name = r["role"] + ("" if r["trained"] else " (speed only)")
    precision = r["precision"] + (" *" if r.get("folder") == shipped else "")
    if r.get("skip"):
        if r["skip"] not in reasons:
            reasons.append(r["skip"])
        return [name, r["backend"], precision, "", f"skipped [{reasons.index(r['skip']) + 1}]", *[""] * 8]
    s, fp = r["speed"], r.get("vs_fp32") or {}
    inv = r.get("invariance") or {}
    return [name, r["backend"], precision, f"{r['file_mb']:.1f}", f"{s['notes_per_s']:,.1f}",
            f"{s['x_baseline']:.2f}x", f"{s['load_s'] + s['first_batch_s']:.2f}", f"{s['peak_rss_mb']:,.0f}",
            _num((r.get("test") or {}).get("macro_f1"), ".4f"), _panel_cell(r),
            _num(fp.get("agreement"), ".2%"), _num(fp.get("max_abs_dprob"), ".4f"),
            _num(inv.get("max_abs_dprob"), ".1e")]  # fmt: skip


def lever_table(result: dict[str, Any]) -> str:
    """Pipeline, every backend × depth × precision, and the command end to end: one table."""
    p = result["pipeline"]
    rows = [["transformers pipeline (baseline)", "torch", "fp32", "", f"{p['notes_per_s']:,.1f}", "1.00x",
             f"{p['load_s'] + p.get('first_batch_s', 0.0):.2f}", f"{p['peak_rss_mb']:,.0f}", *["-"] * 5]]  # fmt: skip
    reasons: list[str] = []
    rows += [lever_row(r, reasons, result["shipped"]["folder"]) for r in result["rows"]]
    for name, c in (result.get("commands") or {}).items():
        runtime = c.get("runtime") or {}
        rows.append([f"`notescore score --backend {name}` (shipped)", runtime.get("backend", "?"), "end to end",
                     "", f"{c['notes_per_s']:,.1f}", f"{c['x_baseline']:.2f}x", "", f"{c['peak_rss_mb']:,.0f}",
                     *["-"] * 5])  # fmt: skip
    return "\n".join([_table(HEADERS, rows), *(f"[{i}] {why}" for i, why in enumerate(reasons, 1))])


def legend(result: dict[str, Any]) -> str:
    n_inv = next((r["invariance"]["n"] for r in result["rows"] if "invariance" in r), 0)
    return (
        "*: the shipped file. notes/s: tokenising + inference (+ n-gram), no keywords, median of "
        f"{result['repeats']}; pipeline: median of {result['pipeline']['repeats']}; `notescore score`: process start "
        "to exit, one run. load+1st batch: model load plus the first batch of 32. test macro-F1: argmax of the "
        "blended model on data/notes/test.jsonl. panel passed: real-text slices meeting their target "
        f"(training/panel.py, at most {result.get('panel_rows')} notes a slice). agree/|Δp| vs fp32: ONNX Runtime "
        f"fp32 of the same depth, on test + panel notes. batch inv.: {n_inv} notes at batch 1, 32 and reversed order."
    )


def panel_table(result: dict[str, Any]) -> str:
    """Expected-label share per real-text slice, ONNX Runtime rows (OpenVINO's agreement is in the lever table)."""
    rows = [r for r in result["rows"] if isinstance(r.get("panel"), list) and r["backend"] == "onnxruntime"]
    if not rows:
        return ""
    heads = ["slice (target)", *(f"{r['layers']}L {r['precision']}" for r in rows)]
    body = []
    for i, first in enumerate(rows[0]["panel"]):
        target = "-" if first["target"] is None else f"{first['target']:.2f}"
        body.append([f"{first['name']} ({target}, n {first['n']})",
                     *(f"{r['panel'][i]['expected_rate']:.3f}" for r in rows)])  # fmt: skip
    return "real-text panel (ONNX Runtime), share of each slice given an expected label:\n" + _table(heads, body)


def scaling_table(result: dict[str, Any]) -> str:
    rows = []
    for s in result.get("scaling") or []:
        sh = s["share"]
        rows.append(
            [
                f"{s['n']:,}",
                s.get("backend", "?"),
                f"{s['wall_s']:.1f}",
                f"{s['notes_per_s']:,.1f}",
                f"{s['peak_rss_mb']:,.0f}",
                f"{sh['tokenise']:.0%}",
                f"{sh['inference']:.0%}",
                f"{sh['ngram']:.0%}",
                f"{sh['keywords'] + sh['keywords_init']:.0%}",
                f"{sh['io']:.0%}",
                f"{sh['load'] + sh['process_other']:.0%}",
                f"{s['startup']['load_to_first_batch_s']:.2f}",
            ]
        )
    for sk in result.get("scaling_skipped") or []:
        rows.append([f"{sk['n']:,}", f"skipped (~{sk['estimated_s'] / 60:.0f} min)", *[""] * 10])
    heads = ["notes", "backend", "wall s", "notes/s", "peak RSS MB", "tokenise", "inference", "n-gram", "keywords",
             "I/O", "start/other", "load→1st batch s"]  # fmt: skip
    return "`notescore score` (shipped model, --backend auto) scaling and time split:\n" + _table(heads, rows)


def render(result: dict[str, Any]) -> str:
    """Every table of a run, as printed and written into bench/README.md."""
    parts = [*header(result), "", lever_table(result), legend(result), ""]
    for cmp in result.get("student_vs_teacher") or []:
        parts.append(f"student vs teacher ({cmp['precision']}, ONNX Runtime): test macro-F1 {cmp['f1_student']:.4f} "
                     f"vs {cmp['f1_teacher']:.4f} ({cmp['f1_delta']:+.4f})")  # fmt: skip
    panel = panel_table(result)
    if panel:
        parts += [panel, ""]
    parts += [scaling_table(result), "", "targets:"]
    mark = {True: "yes", False: "MISS", None: "n/a"}
    parts.append(_table(["target", "where we stand", "met"],
                        [[t["target"], t["value"], mark[t["met"]]] for t in result["targets"]]))  # fmt: skip
    parts += [f"note: {note}" for note in result["notes"]]
    return "\n".join(parts)


def update_readme(report: str, result: dict[str, Any], readme: Path = README) -> None:
    """Replace the block between the results markers of bench/README.md with ``report``."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    smoke = result["kind"].startswith("smoke")
    banner = "**SMOKE RUN (`--quick`): a few hundred notes, numbers are not the benchmark.**\n\n" if smoke else ""
    block = f"{start}\n{banner}Command: `{result['command']}` — {result['date']}\n\n```text\n{report}\n```\n{end}"
    readme.write_text(head + block + tail, encoding="utf-8")
