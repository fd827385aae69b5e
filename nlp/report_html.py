"""The report page: one self-contained HTML file (inline CSS and SVG; no script, no network).

Every value that comes from the scored file or the model card is escaped here.
Fonts are a stack that renders Chinese on Linux, macOS and Windows.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from pathlib import Path

from nlp import __version__
from nlp.report import ModelCard
from nlp.report_aggregate import Breakdown, Example, ReportData
from nlp.report_rows import Evidence
from nlp.report_svg import histogram, line_chart, mini_bar, share_bar, spark_bars

# (strong, light) per label; strong for bars and pills, light for highlighted evidence.
LABEL_COLOURS = {
    "genuine": ("#2f855a", "#c6f6d5"),
    "sponsored": ("#c05621", "#feebc8"),
    "possibly_false": ("#c53030", "#fed7d7"),
}
_SPARE_COLOURS = [("#2b6cb0", "#bee3f8"), ("#6b46c1", "#e9d8fd"), ("#2c7a7b", "#b2f5ea"), ("#4a5568", "#e2e8f0")]
_SERIES = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#e15759", "#76b7b2", "#edc948"]
_UNCERTAIN_BELOW = 0.6
# Inlined into every page; its font stack renders Chinese on Linux, macOS and Windows.
_CSS = (Path(__file__).parent / "report.css").read_text(encoding="utf-8")


def label_colours(labels: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """The (strong, light) colours of each label; labels of other models get spare colours."""
    spare = iter(_SPARE_COLOURS * 4)
    return {x: LABEL_COLOURS.get(x) or next(spare) for x in labels}


def _name(label: str) -> str:
    return escape(label.replace("_", " "))


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else escape(str(value or "?"))


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def render_html(data: ReportData, card: ModelCard, *, title: str | None = None, now: datetime | None = None) -> str:
    """The whole report page.

    Args:
        data: the aggregated scored file.
        card: the model card summary (or its error).
        title: the page title; "notescore report" when None.
        now: the time stamped on the page; none when None.

    Returns:
        One HTML document, UTF-8 text, with no external reference.
    """
    colours = label_colours(data.labels)
    title = title or "notescore report"
    css = _CSS + "".join(
        f".pill-{i}{{background:{s}}}.ev-{i}{{background:{lt};box-shadow:inset 0 -2px 0 {s}}}"
        for i, (s, lt) in enumerate(colours.values())
    )
    parts = [_header(data, card, title, now), _skipped(data)]
    if data.notes:
        parts += [_overview(data, colours), _confidence(data, colours), _keywords(data, colours)]
        if data.timeline is not None:
            parts.append(_trend(data, colours))
        parts += [_breakdown(b, data, colours) for b in data.breakdowns]
        parts.append(_examples(data, colours))
    else:
        parts.append('<p class="notice">This file holds no scored notes: nothing to chart.</p>')
    parts += [_model(card, data), _footer(data)]
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} · {escape(data.source)}</title>\n<style>{css}</style>\n</head>\n"
        f"<body>\n<main>\n{''.join(parts)}\n</main>\n</body>\n</html>\n"
    )


def _header(data: ReportData, card: ModelCard, title: str, now: datetime | None) -> str:
    bits = [f"<code>{escape(data.source)}</code>", f"{data.notes:,} notes"]
    model = data.models_seen[0] if data.models_seen else card.name
    if model:
        bits.append(f"model {escape(model)}")
    if now is not None:
        bits.append(f"generated {now:%Y-%m-%d %H:%M} UTC")
    return (
        f'<header class="top"><div><h1>{escape(title)}</h1><p class="meta">{" · ".join(bits)}</p></div>'
        f'<div class="brand">notescore {escape(__version__)}</div></header>'
    )


def _skipped(data: ReportData) -> str:
    if not data.skipped:
        return ""
    reasons = "; ".join(f"{escape(r)}: {n:,}" for r, n in sorted(data.skip_reasons.items(), key=lambda kv: -kv[1]))
    first = "; ".join(f"line {line}: {escape(reason)}" for line, reason in data.skip_examples[:3])
    return (
        f'<p class="notice"><b>{data.skipped:,} of {data.rows_read:,} rows skipped</b> and left out of every '
        f"count below ({reasons}). First: {first}. Score the file with <code>notescore score</code> to include "
        "them.</p>"
    )


def _overview(data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    cards = [
        f'<div class="card" style="border-top-color:#4a5568"><div class="k">notes</div>'
        f'<div class="v">{data.notes:,}</div><div class="s">{data.rows_read:,} rows read</div></div>'
    ]
    for label in data.labels:
        n = data.label_counts.get(label, 0)
        mean = data.mean_confidence.get(label)
        cards.append(
            f'<div class="card" style="border-top-color:{colours[label][0]}"><div class="k">{_name(label)}</div>'
            f'<div class="v">{n:,}<small>{_pct(n, data.notes)}</small></div>'
            f'<div class="s">{f"mean confidence {mean:.2f}" if mean is not None else "no notes"}</div></div>'
        )
    bar = share_bar([(x.replace("_", " "), data.label_counts.get(x, 0), colours[x][0]) for x in data.labels])
    return f'<section><h2>Labels</h2><div class="cards">{"".join(cards)}</div>{bar}</section>'


def _confidence(data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    floor = 1 / max(len(data.labels), 1)  # the most probable of k labels has at least 1/k
    figures = []
    for label in data.labels:
        bins = data.histograms.get(label, [])
        n = sum(bins)
        low = sum(bins[: round(_UNCERTAIN_BELOW * len(bins))])
        caption = f"<b>{_name(label)}</b> <span class='muted'>· {n:,} notes"
        if n:
            caption += f" · {low:,} below {_UNCERTAIN_BELOW}"
        chart = histogram(bins, colours[label][0], f"P({label}) of the notes labelled {label}", _UNCERTAIN_BELOW, floor)
        figures.append(f"<figure><figcaption>{caption}</span></figcaption>{chart}</figure>")
    return (
        "<section><h2>How sure the model is</h2><p class='hint'>For the notes given each label: how many had each "
        "probability of that label. Notes towards the left were close calls; review those first.</p>"
        f"<div class='grid'>{''.join(figures)}</div></section>"
    )


def _keywords(data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    columns = []
    for label in data.labels:
        top = data.keywords.get(label, [])
        n = data.label_counts.get(label, 0)
        peak = max((c for _, c in top), default=1)
        rows = "".join(
            f"<tr><td class='rank'>{i}</td><td class='term' title='{escape(k)}'>{escape(k)}</td>"
            f"<td><span class='bar' style='width:{100 * c / peak:.1f}%;background:{colours[label][0]}'></span></td>"
            f"<td class='num'>{c:,}</td><td class='num muted'>{_pct(c, n)}</td></tr>"
            for i, (k, c) in enumerate(top, start=1)
        )
        body = f"<table class='kw'><tbody>{rows}</tbody></table>" if rows else "<p class='muted'>none</p>"
        columns.append(
            f"<div><h3><span class='dot' style='background:{colours[label][0]}'></span>{_name(label)} "
            f"<span class='muted'>· {n:,} notes</span></h3>{body}</div>"
        )
    return (
        "<section><h2>Top keywords</h2><p class='hint'>Notes of each label that mention the keyword, and their "
        "share of that label's notes (keywords compared case- and width-folded, without # marks).</p>"
        f"<div class='grid'>{''.join(columns)}</div></section>"
    )


def _tick(day: date, level: str) -> str:
    return f"{day:%Y-%m}" if level == "month" else f"{day:%Y}" if level == "year" else f"{day:%Y-%m-%d}"


def _legend(items: list[tuple[str, str]]) -> str:
    spans = "".join(f"<span><i style='background:{c}'></i>{escape(n)}</span>" for n, c in items)
    return f"<div class='legend'>{spans}</div>"


def _trend(data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    t = data.timeline
    field = escape(data.options.date_field or "")
    if t is None or t.level is None:
        example = f", e.g. {escape(t.unparsed_example)}" if t and t.unparsed_example else ""
        return (
            f"<section><h2>Over time</h2><p class='notice'>No row has a readable date in <code>{field}</code> "
            f"({t.undated if t else 0:,} rows lack it; {t.unparsed if t else 0:,} are not dates{example}). Dates "
            "are read from epoch seconds or milliseconds, ISO dates and 2024/3/5-style dates.</p></section>"
        )
    ticks = [_tick(b, t.level) for b in t.buckets]
    series = [(x.replace("_", " "), colours[x][0], t.counts[x]) for x in data.labels]
    missing = t.undated + t.unparsed
    note = f"; {missing:,} rows without a readable date are left out" if missing else ""
    columns = []
    for label in data.labels:
        kws = t.keywords.get(label, [])
        if not kws:
            continue
        rows = "".join(
            f"<tr><td class='term' title='{escape(k)}'>{escape(k)}</td>"
            f"<td>{spark_bars(v, colours[label][0], ticks)}</td><td class='num'>{sum(v):,}</td></tr>"
            for k, v in kws
        )
        columns.append(
            f"<div><h3><span class='dot' style='background:{colours[label][0]}'></span>{_name(label)}</h3>"
            f"<table class='spark'><tbody>{rows}</tbody><tfoot><tr><td></td><td><span>{ticks[0]}</span>"
            f"<span>{ticks[-1]}</span></td><td></td></tr></tfoot></table></div>"
        )
    keywords = (
        f"<h3>Top keywords over time</h3><p class='hint'>Notes per {t.level} mentioning each of a label's top "
        f"keywords.</p><div class='grid'>{''.join(columns)}</div>"
        if columns
        else ""
    )
    return (
        f"<section><h2>Over time</h2><p class='hint'>Notes per {t.level} from {ticks[0]} to {ticks[-1]}, by "
        f"<code>{field}</code> ({t.dated:,} dated notes{note}).</p>"
        f"{line_chart(series, ticks, f'notes per {t.level}')}{_legend([(n, c) for n, c, _ in series])}"
        f"{keywords}</section>"
    )


def _breakdown(b: Breakdown, data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    head = "".join(f"<th class='num'>{_name(x)}</th>" for x in data.labels)

    def row(value: str, counts: dict[str, int], css: str = "") -> str:
        total = sum(counts.values())
        bar = mini_bar([(x, counts.get(x, 0), colours[x][0]) for x in data.labels])
        cells = "".join(f"<td class='num'>{_pct(counts.get(x, 0), total)}</td>" for x in data.labels)
        return (
            f"<tr class='{css}'><td class='value' title='{escape(value)}'>{escape(value)}</td>"
            f"<td class='num'>{total:,}</td><td>{bar}</td>{cells}</tr>"
        )

    rows = [row(v, c) for v, c in b.values]
    if b.other:
        rows.append(row("other values", b.other, "sub"))
    if b.missing:
        rows.append(row(f"no {b.column}", b.missing, "sub"))
    shown = len(b.values)
    hint = f"The {shown} most frequent values of <code>{escape(b.column)}</code>"
    hint += ", then the rest together" if b.other else ""
    hint += "; label shares within each row."
    if b.distinct_pruned:
        hint += " The column has many distinct values: counts of the listed ones may be slightly low."
    return (
        f"<section><h2>By {escape(b.column)}</h2><p class='hint'>{hint}</p><table class='by'><colgroup><col>"
        f"<col style='width:90px'><col style='width:200px'>{'<col style=width:130px>' * len(data.labels)}</colgroup>"
        "<thead><tr>"
        f"<th>{escape(b.column)}</th><th class='num'>notes</th><th>labels</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _examples(data: ReportData, colours: dict[str, tuple[str, str]]) -> str:
    index = {x: i for i, x in enumerate(data.labels)}
    blocks = []
    for label in data.labels:
        confident = data.confident.get(label, [])
        if not confident:
            continue
        shown = {e.line for e in confident}
        uncertain = [e for e in data.uncertain.get(label, []) if e.line not in shown]
        right = "".join(_note(e, data.labels, index) for e in uncertain) or (
            "<p class='muted'>Every note with this label is shown on the left.</p>"
        )
        blocks.append(
            f"<h3><span class='dot' style='background:{colours[label][0]}'></span>{_name(label)}</h3>"
            f"<div class='two'><div><h4>Most confident</h4>{''.join(_note(e, data.labels, index) for e in confident)}"
            f"</div><div><h4>Least certain</h4>{right}</div></div>"
        )
    return (
        "<section><h2>Examples</h2><p class='hint'>For each label, the notes it was given with the most confidence "
        "and those that were the closest calls (the smallest lead over the runner-up label). Highlighted spans are "
        "the model's evidence, coloured by the label they point to; hover for the weight.</p>"
        f"{''.join(blocks)}</section>"
    )


def _note(e: Example, labels: tuple[str, ...], index: dict[str, int]) -> str:
    others = " · ".join(
        f"{_name(x)} {p:.2f}" for x, p in sorted(e.scores.items(), key=lambda kv: -kv[1]) if x != e.label
    )
    note_id = e.note_id if not e.note_id or len(e.note_id) <= 16 else e.note_id[:15] + "…"
    where = f"line {e.line:,}" + (f" · {escape(note_id)}" if note_id else "")
    title_spans, body_spans, unplaced = place_evidence(e)
    title = f"<div class='ntitle'>{highlight(e.title, title_spans, index)}</div>" if e.title else ""
    more = "…" if e.truncated else ""
    chips = "".join(f"<span class='chip'>{escape(k)}</span>" for k in e.keywords)
    lost = ""
    if unplaced:
        lost = "<div class='unplaced'>Evidence not in the text shown: " + "; ".join(
            f"«{escape(ev.text)}» ({_name(ev.label)} {ev.weight:+.2f})" for ev in unplaced[:5]
        ) + "</div>"  # fmt: skip
    return (
        f"<article class='note'><div class='nhead'><span class='pill pill-{index.get(e.label, 0)}'>"
        f"{_name(e.label)} {e.scores[e.label]:.2f}</span><span>{others}</span></div>{title}"
        f"<div class='ntext'>{highlight(e.text, body_spans, index)}{more}</div>{lost}"
        f"<div class='nfoot'><div class='chips'>{chips}</div><span class='where'>{where}</span></div></article>"
    )


def place_evidence(e: Example) -> tuple[list[tuple[int, int, Evidence]], list[tuple[int, int, Evidence]], list]:
    """Locate each evidence span in the title or the body shown.

    An item's offsets are trusted when the text there is the item's text (or it
    has none); otherwise its text is looked for. Items found nowhere in the text
    shown (cut off, or another field) are returned as unplaced.

    Returns:
        ``(title spans, body spans, unplaced items)``; spans are ``(start, end, item)``.
    """
    title_spans, body_spans, unplaced = [], [], []
    for ev in e.evidence:
        in_title = ev.field == "title"
        if not in_title and ev.field not in (None, e.text_field):
            unplaced.append(ev)
            continue
        target = (e.title or "") if in_title else e.text
        start, end = ev.start, ev.end
        if ev.text and target[start:end] != ev.text:
            start = target.find(ev.text)
            end = start + len(ev.text)
        if start < 0 or end > len(target) or start >= end:
            unplaced.append(ev)
            continue
        (title_spans if in_title else body_spans).append((start, end, ev))
    return title_spans, body_spans, unplaced


def highlight(text: str, spans: list[tuple[int, int, Evidence]], index: dict[str, int]) -> str:
    """Escaped ``text`` with the spans marked; where spans overlap, the heavier one wins."""
    chosen: list[tuple[int, int, Evidence]] = []
    for start, end, ev in sorted(spans, key=lambda s: -abs(s[2].weight)):
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, ev))
    out, pos = [], 0
    for start, end, ev in sorted(chosen, key=lambda s: s[0]):
        tip = f"evidence for {ev.label.replace('_', ' ')} · weight {ev.weight:+.2f}"
        out.append(escape(text[pos:start]))
        out.append(f"<mark class='ev-{index.get(ev.label, 0)}' title='{escape(tip)}'>{escape(text[start:end])}</mark>")
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def _model(card: ModelCard, data: ReportData) -> str:
    if card.error:
        body = f"<p class='notice'>Model card unavailable: {escape(card.error)}</p>"
        if data.models_seen:
            body += f"<p>The file was scored with {escape(', '.join(data.models_seen))}.</p>"
        return f"<section><h2>Model</h2>{body}</section>"
    facts = [("name", card.name), ("base model", card.base_model or "unknown"), ("labels", ", ".join(card.labels))]
    if data.models_seen:
        facts.append(("file scored with", ", ".join(data.models_seen)))
    facts.append(("folder", card.folder))
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    warn = ""
    if data.models_seen and card.name not in data.models_seen:
        warn = (
            "<p class='notice'>The file was scored with another model than the card shown; pass "
            "<code>--model</code> with the folder it was scored with.</p>"
        )
    parts = [f"<section><h2>Model</h2>{warn}<dl class='card-facts'>{dl}</dl>"]
    if card.metrics:
        name, headline = card.metrics[0]
        n = f" (n = {int(headline['n']):,})" if "n" in headline else ""
        stats = "".join(
            f"<span class='stat'>{escape(k.replace('_', ' '))} <b>{v:.3f}</b></span>"
            for k, v in headline.items()
            if k != "n" and not k.startswith("n_")
        )
        parts.append(f"<h3>{escape(name)}{n}</h3><div class='stats'>{stats}</div>")
    grid = []
    if card.training_data:
        rows = "".join(
            f"<tr><td>{escape(str(s.get('name', '?')))}</td><td class='num'>{_count(s.get('rows'))}</td>"
            f"<td>{escape(str(s.get('license', '?')))}</td></tr>"
            for s in card.training_data
        )
        grid.append(
            "<div><h3>Trained on</h3><table><thead><tr><th>source</th><th class='num'>rows</th><th>licence</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    if len(card.metrics) > 1:
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td class='num'>{int(m.get('n', 0)):,}</td>"
            f"<td class='num'>{m['accuracy']:.3f}</td></tr>"
            for name, m in card.metrics[1:]
            if "accuracy" in m
        )
        grid.append(
            "<div><h3>Checked on other data</h3><table><thead><tr><th>data</th><th class='num'>n</th>"
            f"<th class='num'>accuracy</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
    parts.append(f"<div class='grid'>{''.join(grid)}</div></section>")
    return "".join(parts)


def _footer(data: ReportData) -> str:
    notes = [
        "Counts are exact over every scored row; a note's label is its most probable one.",
        "Keywords are counted once per note.",
    ]
    if data.keywords_approximate:
        notes.append(
            "This file has very many distinct keywords: the top lists are kept approximately, and the counts of "
            "keywords that first appear late in the file may be slightly low."
        )
    if data.timeline is not None:
        notes.append("Epoch time stamps are read as UTC dates; weeks start on Monday.")
        if data.timeline.trends_pruned:
            notes.append(
                "Keyword trends are kept for each label's leading keywords as the file is read: a keyword that "
                "rose late may lack its earliest mentions."
            )
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f"<footer><b>How to read this report</b><ul>{items}</ul>Made by notescore {escape(__version__)}.</footer>"
