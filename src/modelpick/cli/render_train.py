"""Rendering for `train` and `predict`; every string from the user (names, paths, labels) is
escaped before it reaches the terminal."""

from __future__ import annotations

from .options import console as _console
from .render import human
from .term import markup, safe

STOPPED = {
    "epochs": "the epoch limit was reached",
    "early_stopping": "validation loss stopped improving (early stopping)",
    "time_budget": "the time budget was reached",
    "diverged": "the training loss diverged",
    "interrupted": "interrupted",
}


def _fmt(x, spec=".3g", unit=""):
    return "–" if x is None else f"{x:{spec}}{unit}"


def _pct(x):
    return "–" if x is None else f"{x:+.0f}%"


def render_train(doc: dict) -> None:
    from rich.table import Table

    out = _console()
    best = doc.get("best") or {}
    out.print(
        markup(
            "[bold]{}[/] on {} ({}, {}, {}): {} epochs, stopped because {}",
            doc["arch"],
            doc["data"]["source"],
            doc["backend"],
            doc["device"],
            doc["precision"],
            len(doc["epochs"]),
            STOPPED.get(doc["stopped"], doc["stopped"]),
        )
    )
    if doc.get("stop_message"):
        out.print(markup("  {}", doc["stop_message"]))
    if best:
        parts = [f"best epoch {doc['best_epoch']}", f"val_loss {_fmt(best.get('val_loss'), '.4g')}"]
        for key in ("val_accuracy", "val_rmse", "val_r2"):
            if best.get(key) is not None:
                parts.append(f"{key} {best[key]:.4g}")
        out.print("  " + ", ".join(parts))
    cost = doc["cost"]
    table = Table(title="measured beside predicted", title_justify="left")
    for col in ("", "predicted", "measured", "error"):
        table.add_column(col, justify="right" if col else "left")
    step, epoch, mem = cost["train_step_ms"], cost["epoch_s"], cost["peak_memory_bytes"]
    table.add_row(
        "train step",
        _fmt(step["predicted"], ".3g", " ms"),
        _fmt(step["measured"], ".3g", " ms"),
        _pct(step["error_pct"]),
    )
    table.add_row(
        "epoch",
        _fmt(epoch["predicted"], ".3g", " s"),
        _fmt(epoch["measured"], ".3g", " s"),
        _pct(epoch["error_pct"]),
    )
    table.add_row(
        safe(f"peak memory ({mem.get('source') or '–'})"),
        "–" if mem["predicted"] is None else human(mem["predicted"], "B"),
        "–" if mem["measured"] is None else human(mem["measured"], "B"),
        _pct(mem["error_pct"]),
    )
    out.print(table)
    for note in doc.get("notes", []):
        out.print(markup("  note: {}", note))
    out.print(
        markup(
            "wall {} s of a {} s budget; run saved in {}",
            f"{doc['wall_s']:.1f}",
            f"{doc['budget_s']:.0f}",
            doc["output"],
        )
    )


def render_predictions(doc: dict) -> None:
    from rich.table import Table

    out = _console()
    table = Table(title=markup("{} ({})", doc["arch"], doc["run"]), title_justify="left")
    table.add_column("sample")
    rows = doc["predictions"]
    if doc["task"] == "regression":
        table.add_column("prediction", justify="right")
        for r in rows:
            table.add_row(safe(r["id"]), ", ".join(f"{v:.4g}" for v in r["values"]))
    else:
        table.add_column("label")
        table.add_column("probability", justify="right")
        for r in rows:
            table.add_row(safe(r["id"]), safe(r["label"]), f"{r['probability']:.3f}")
    out.print(table)


def render_data_check(report: dict) -> None:
    """`validate --data`: what was read, how it splits, per-class counts, warnings."""
    from rich.table import Table

    out = _console()
    samples = report.get("samples") or {}
    out.print(
        markup(
            "  data: {} ({}), input {} {}, {} train + {} validation samples",
            report.get("source"),
            report.get("format"),
            "×".join(str(d) for d in report.get("input_shape") or []),
            report.get("input_dtype"),
            samples.get("train"),
            samples.get("val"),
        )
    )
    classes = report.get("classes")
    if classes:
        table = Table(show_edge=False, pad_edge=False)
        for col in ("class", "train", "val"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for c in classes[:50]:
            table.add_row(safe(c.get("name")), str(c.get("train")), str(c.get("val")))
        if len(classes) > 50:
            table.add_row(f"… {len(classes) - 50} more", "", "")
        out.print(table)
    for w in report.get("warnings") or []:
        out.print(markup("  [yellow]warning:[/] {}", w))
