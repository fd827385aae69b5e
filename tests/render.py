"""Render an HTML page to a PNG with headless Chromium: the report's browser test and the README screenshot.

Regenerate ``docs/report.png`` (the shipped model scores ``data/sample_notes.jsonl``)::

    python -m tests.render            # or: python -m tests.render OUT.png
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_notes.jsonl"
SCREENSHOT = ROOT / "docs" / "report.png"
# Wide enough for the three-column sections; tall enough for labels, histograms, keywords and trends.
WINDOW = (1280, 2400)


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, read from its header."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", head[16:24])


def render_png(html: Path, png: Path, window: tuple[int, int] = WINDOW, timeout: float = 120) -> Path:
    """Screenshot the top ``window`` of an HTML file with headless Chromium.

    Args:
        html: the page to render.
        png: where the screenshot goes.
        window: viewport width and height in CSS pixels.
        timeout: seconds before giving up.

    Returns:
        ``png``.

    Raises:
        FileNotFoundError: Chromium is not installed.
        RuntimeError: Chromium ran but wrote no PNG (its stderr is in the message).
    """
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not on PATH; install it with: apt-get install chromium fonts-noto-cjk")
    png = Path(png).resolve()
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        args = [
            exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={window[0]},{window[1]}",
            Path(html).resolve().as_uri(),
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}")
    return png


def main(out: Path = SCREENSHOT) -> None:
    """Score the sample notes with the shipped model, write their report, and screenshot it."""
    from nlp import NoteClassifier, score_file
    from nlp.report import ReportOptions, write_report

    with tempfile.TemporaryDirectory() as tmp:
        scored = Path(tmp) / "sample_scored.jsonl"
        score_file(str(SAMPLE), str(scored), NoteClassifier.load())
        html = Path(tmp) / "report.html"
        options = ReportOptions(date_field="time", by=("user.nickname", "ip_location"))
        write_report(str(scored), str(html), options=options)
        out.parent.mkdir(parents=True, exist_ok=True)
        render_png(html, out)
    size = out.stat().st_size
    print(f"{out}: {png_size(out)[0]}x{png_size(out)[1]}, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SCREENSHOT)
