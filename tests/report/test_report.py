"""`report`: saved rankings, bench runs, calibrations and trial stores as markdown and as one
self-contained HTML file; the HTML opened in headless Chromium, as a person would, to check
that every picture loads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from modelpick.cli.app import run  # noqa: E402
from modelpick.cli.report import html_report  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "plot" / "fixtures"
KINDS = ("recommend", "bench", "calibration")


def _report(tmp_path, kind, fmt, doc=None, capsys=None):
    src = tmp_path / f"{kind}.json"
    src.write_text(json.dumps(doc or json.loads((FIXTURES / f"{kind}.json").read_text())))
    out = tmp_path / f"{kind}.{'html' if fmt == 'html' else 'md'}"
    code = run(["report", str(src), "--format", fmt, "--output", str(out)])
    return code, out


@pytest.mark.parametrize("kind", KINDS)
def test_html_is_one_self_contained_file(tmp_path, kind):
    code, out = _report(tmp_path, kind, "html")
    assert code == 0
    text = out.read_text()
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # nothing fetched
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', text)
    assert images, "the report carries its pictures"
    assert "Content-Security-Policy" in text


@pytest.mark.parametrize("kind", KINDS)
def test_markdown_references_the_pictures_written_beside_it(tmp_path, kind):
    code, out = _report(tmp_path, kind, "markdown")
    assert code == 0
    text = out.read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert refs and all((out.parent / r).is_file() for r in refs)


def test_user_strings_are_data_in_html(tmp_path):
    doc = json.loads((FIXTURES / "recommend.json").read_text())
    doc["profile"] = '<script>alert("x")</script>\x1b[31m'
    doc["candidates"][0]["name"] = "<img src=x onerror=alert(1)>"
    code, out = _report(tmp_path, "recommend", "html", doc)
    assert code == 0
    text = out.read_text()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text and "\x1b" not in text


def test_html_needs_an_output_file_and_a_bad_saved_file_is_one_line(tmp_path, capsys):
    src = tmp_path / "r.json"
    src.write_text((FIXTURES / "recommend.json").read_text())
    assert run(["report", str(src), "--format", "html"]) == 2
    assert "--output" in capsys.readouterr().err
    doc = json.loads(src.read_text())
    doc["candidates"][1]["score"] = "high"
    src.write_text(json.dumps(doc))
    assert run(["report", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "candidates[1].score" in err


def test_trial_html_from_a_leaderboard(tmp_path):
    from modelpick.plot import figures, png_bytes

    doc = json.loads((FIXTURES / "trial.json").read_text())
    pictures = [(slug, png_bytes(fig)) for slug, fig in figures("trial", doc)]
    text = html_report("trial", doc, pictures)
    assert len(re.findall("<img ", text)) == len(pictures) >= 3
    assert doc["winner"]["name"] in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: chromium)")
@pytest.mark.parametrize("kind", (*KINDS, "trial"))
def test_every_picture_loads_in_headless_chromium(tmp_path, kind):
    if kind == "trial":
        from modelpick.plot import figures, png_bytes

        doc = json.loads((FIXTURES / "trial.json").read_text())
        out = tmp_path / "trial.html"
        out.write_text(
            html_report("trial", doc, [(s, png_bytes(f)) for s, f in figures("trial", doc)])
        )
    else:
        code, out = _report(tmp_path, kind, "html")
        assert code == 0
    # A harness page (ours, with a script; the report has none) loads the report in a frame
    # and counts the images the browser decoded.
    harness = tmp_path / "harness.html"
    harness.write_text(
        f'<!DOCTYPE html><html><body><iframe id="f" src="{out.name}"></iframe><script>'
        "document.getElementById('f').addEventListener('load', function () {"
        "var im = this.contentDocument.images, ok = 0;"
        "for (var i = 0; i < im.length; i++) if (im[i].complete && im[i].naturalWidth > 0) ok++;"
        "var p = document.createElement('p'); p.textContent = 'IMAGES ' + ok + '/' + im.length;"
        "document.body.appendChild(p);});</script></body></html>"
    )
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
            harness.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"IMAGES (\d+)/(\d+)", proc.stdout)
    if found is None:
        pytest.skip(f"headless Chromium did not run here: {proc.stderr.strip()[-200:]}")
    loaded, total = map(int, found.groups())
    assert total >= 1 and loaded == total, f"{loaded} of {total} pictures loaded"
