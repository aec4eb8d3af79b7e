"""modelpick.plot: every kind renders from the real documents in fixtures/ to PNG and SVG, the
PNG is a real picture (size, colours, not blank), hostile names are drawn as text, and the
package stays lazy and says what to install when matplotlib is missing."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from modelpick import plot  # noqa: E402
from modelpick.errors import InputError, UnavailableError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = {
    "recommend": ["pareto"],
    "estimate": ["breakdown"],
    "bench": ["latency", "errors"],
    "calibration": ["latency", "errors"],
    "trial": ["curves", "pareto", "ranks"],
}


def _doc(kind: str) -> dict:
    return json.loads((FIXTURES / f"{kind}.json").read_text())


def _check_png(data: bytes) -> None:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    assert w >= 600 and h >= 400, img.size
    small = img.resize((w // 4, h // 4))
    colours = small.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= 4, "fewer than 4 colours"
    white = sum(n for n, c in colours if min(c) >= 245)
    assert white < 0.97 * (small.size[0] * small.size[1]), "mostly blank"
    # several real colours, not only greys (the data are drawn in colour)
    tinted = {c for _, c in colours if max(c) - min(c) > 60}
    assert len(tinted) >= 3


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_kind_renders_png_and_svg(kind, tmp_path):
    doc = _doc(kind)
    written = plot.save(kind, doc, tmp_path / f"{kind}.png")
    stems = [kind] + [f"{kind}-{s}" for s in EXPECTED[kind][1:]]
    assert [p.name for p in written] == [f"{s}.png" for s in stems]
    for p in written:
        _check_png(p.read_bytes())
    svgs = plot.save(kind, doc, tmp_path / f"{kind}.svg")
    assert [p.name for p in svgs] == [f"{s}.svg" for s in stems]
    for p in svgs:
        text = p.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text and len(text) > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left"


def test_figures_and_png_bytes():
    figs = plot.figures("trial", _doc("trial"))
    assert [s for s, _ in figs] == EXPECTED["trial"]
    _check_png(plot.png_bytes(figs[0][1]))
    assert plot.slugs("bench") == ("latency", "errors")


def test_svg_is_deterministic(tmp_path):
    doc = _doc("calibration")
    a = plot.save("calibration", doc, tmp_path / "a.svg")
    b = plot.save("calibration", doc, tmp_path / "b.svg")
    assert a[0].read_bytes() == b[0].read_bytes()
    assert b"<dc:date>" not in a[0].read_bytes()


# `$\nosuchcommand$` would raise at draw time if it were read as mathtext
HOSTILE = ["$x^2$ [red]", "bad\x1b]0;pwned\x07name", "a\\$b$ {c}", "$\\nosuchcommand$"]


def test_hostile_names_are_text_not_mathtext(tmp_path):
    rec = _doc("recommend")
    for i, name in enumerate(HOSTILE):
        rec["candidates"][i]["name"] = name  # the top pick and Pareto points are labelled
    rec["profile"] = "$\\frac{1}{0$"
    rec["candidates"][2]["family"] = "$\\sqrt{x}$"
    trial = _doc("trial")
    for row, name in zip(trial["leaderboard"], HOSTILE):
        row["name"] = name
    trial["winner"]["name"] = HOSTILE[0]
    bench = _doc("bench")
    bench["results"][0]["arch"] = HOSTILE[0]
    est = _doc("estimate")
    est["name"] = HOSTILE[0]
    est["layers"][0]["path"] = HOSTILE[1]
    for kind, doc in (("recommend", rec), ("trial", trial), ("bench", bench), ("estimate", est)):
        for p in plot.save(kind, doc, tmp_path / f"{kind}.png"):
            _check_png(p.read_bytes())
    from modelpick.plot._style import text

    assert text("$x^2$ [red]") == r"\$x^2\$ [red]"
    assert text("a\x1bb") == "a\\x1bb"
    assert "\u202e" not in text("\u202eevil")
    mpl_text = pytest.importorskip("matplotlib.text")
    t = mpl_text.Text(0, 0, text("$\\nosuchcommand$"))
    assert t._preprocess_math(t.get_text()) == ("$\\nosuchcommand$", False)


def test_fifty_candidates_with_long_names_render(tmp_path):
    rec = _doc("recommend")
    base = rec["candidates"]
    rec["candidates"] = []
    for i in range(50):
        c = copy.deepcopy(base[i % len(base)])
        c["name"] = f"candidate-{i:02d}-with-a-rather-long-name-{'x' * (i % 20)}"
        c["rank"] = i + 1
        c["score"] = round(0.99 - 0.004 * i, 4)
        rec["candidates"].append(c)
    (path,) = plot.save("recommend", rec, tmp_path / "fifty.png")
    _check_png(path.read_bytes())


def test_bad_suffix_and_targets_are_input_errors(tmp_path):
    doc = _doc("bench")
    with pytest.raises(InputError, match="expected .png or .svg"):
        plot.save("bench", doc, tmp_path / "plot.pdf")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        plot.save("estimate", _doc("estimate"), tmp_path / "d.png")
    (tmp_path / "x-errors.png").mkdir()  # the second figure's target
    with pytest.raises(InputError, match="is a directory"):
        plot.save("bench", doc, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists(), "nothing is written when a target is refused"
    with pytest.raises(InputError, match="expected one of"):
        plot.figures("nope", doc)
    with pytest.raises(InputError, match="cannot plot this trial document"):
        plot.figures("trial", {"leaderboard": "not a list"})


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_import_is_lazy_and_missing_matplotlib_says_what_to_install():
    r = _run(
        "import sys, modelpick.plot\n"
        "assert 'matplotlib' not in sys.modules, 'imported matplotlib'\n"
        "sys.modules['matplotlib'] = None\n"
        "from modelpick.errors import UnavailableError\n"
        "try:\n"
        "    modelpick.plot.figures('bench', {'results': []})\n"
        "except UnavailableError as e:\n"
        "    print('UNAVAILABLE', e)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "UNAVAILABLE" in r.stdout and "pip install 'modelpick[plot]'" in r.stdout
    assert UnavailableError.exit_code == 3
