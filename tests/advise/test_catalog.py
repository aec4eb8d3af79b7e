"""Every catalog entry, parametrised (timm's habit): it builds, its shapes agree, its costs are
positive, and canonical entries hold their published parameter counts exactly."""

from __future__ import annotations

import textwrap

import pytest

from modelpick.advise.catalog import build_for, load_catalog, reference_io
from modelpick.errors import CatalogError, UnknownNameError
from modelpick.families import IOSpec, Unsupported
from modelpick.graph import ShapeError, numel

CATALOG = load_catalog()
ARCHS = CATALOG.architectures

# One ordinary task per domain, for entries that are not pinned to an input.
DEFAULT_IO = {
    "vision": IOSpec("vision", "classification", "image", (3, 64, 64), 10),
    "text": IOSpec("text", "classification", "tokens", (128,), 4, vocab_size=5000),
    "audio": IOSpec("audio", "classification", "sequence", (100, 40), 12),
    "timeseries": IOSpec("timeseries", "classification", "sequence", (96, 6), 5),
    "tabular": IOSpec("tabular", "classification", "vector", (20,), 3),
}


def _io_for(arch, domain):
    ref = reference_io(arch)
    if ref is not None and ref.domain == domain:
        return ref
    io = DEFAULT_IO[domain]
    fixed = arch.entry.fixed or {}
    task = arch.entry.tasks[0]
    return IOSpec(
        domain,
        task,
        io.layout,
        io.shape,
        int(fixed.get("outputs", io.outputs)),
        vocab_size=io.vocab_size,
    )


CASES = [(a, d) for a in ARCHS for d in a.domains]


@pytest.mark.parametrize("arch,domain", CASES, ids=[f"{a.name}-{d}" for a, d in CASES])
def test_every_entry_builds_with_consistent_shapes(arch, domain):
    io = _io_for(arch, domain)
    try:
        built = build_for(arch, io)
    except (Unsupported, ShapeError) as exc:
        pytest.fail(f"{arch.name} does not build for {domain}: {exc}")
    c = built.cost
    assert c.params > 0 and c.flops > 0 and c.macs > 0
    assert c.flops >= 2 * c.macs
    # Every row's output feeds the next leaf: the walk re-derives shapes, the last is the head.
    leaves = [r for r in c.rows if r.leaf]
    assert leaves[0].in_shape == io.shape
    units = 1 if arch.hparams.binary_unit else io.outputs
    assert c.output_shape[-1] == units
    assert numel(c.output_shape) in (units, io.shape[0] * units)  # per-step heads keep the length
    assert all(r.cost.params >= 0 and r.cost.flops >= 0 for r in c.rows)


REFERENCED = [a for a in ARCHS if a.entry.reference_params]


@pytest.mark.parametrize("arch", REFERENCED, ids=[a.name for a in REFERENCED])
def test_reference_parameter_counts_exact(arch):
    io = reference_io(arch)
    built = build_for(arch, io, arch.entry.reference_backend)
    assert built.cost.params == arch.entry.reference_params


def test_canonical_entries_are_all_present():
    for name in (
        "resnet18",
        "resnet34",
        "resnet50",
        "vit_s_16",
        "vit_b_16",
        "bert_base",
        "lstm_2layer",
        "seed-cnn",
        "seed-rnn",
        "seed-keras-cnn",
        "seed-lstm",
        "seed-transformer",
        "seed-mlp",
        "seed-linear",
    ):
        assert name in CATALOG.by_name


# torchvision's model docs list "GFLOPS" that are multiply-accumulates at 224×224.
@pytest.mark.parametrize(
    "name,gmacs", [("resnet18", 1.81), ("resnet34", 3.66), ("resnet50", 4.09), ("vit_b_16", 17.56)]
)
def test_canonical_macs_match_torchvision(name, gmacs):
    arch = CATALOG.get(name)
    built = build_for(arch, reference_io(arch))
    assert built.cost.macs / 1e9 == pytest.approx(gmacs, abs=0.01)


def test_lstm_reference_differs_by_backend_as_stated():
    arch = CATALOG.get("lstm_2layer")
    io = reference_io(arch)
    torch_params = build_for(arch, io, "torch").cost.params
    keras_params = build_for(arch, io, "tensorflow").cost.params
    # Keras's LSTM has one bias vector of 4H per layer where PyTorch has two.
    assert torch_params - keras_params == 2 * 4 * 256


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean.*resnet50"):
        CATALOG.get("resnet5")


def test_user_catalog_extends_and_replaces(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        textwrap.dedent("""
        architectures:
          - name: tiny-mlp
            family: mlp
            domains: [tabular]
            hparams: {hidden: [8]}
          - name: resnet18
            family: cnn
            domains: [vision]
            hparams: {kind: resnet, layers: [1, 1, 1, 1], width: 64}
    """)
    )
    cat = load_catalog(extra)
    assert "tiny-mlp" in cat.by_name and "resnet50" in cat.by_name
    assert cat.get("resnet18").hparams.layers == (1, 1, 1, 1)  # the user's entry wins
    extra.write_text("replace: true\n" + extra.read_text())
    cat = load_catalog(extra)
    assert sorted(cat.by_name) == ["resnet18", "tiny-mlp"]


@pytest.mark.parametrize(
    "body,expect",
    [
        ("architectures: [{name: x, family: cnm, domains: [vision]}]", "architectures[0].family"),
        (
            "architectures: [{name: x, family: cnn, domains: [vision], hparams: {depht: 3}}]",
            "architectures[0].hparams.depht: unknown key",
        ),
        (
            "architectures: [{name: 'x', family: mlp, domains: [tabular], grid: {width: [8, 16]}}]",
            "must contain {width}",
        ),
        (
            "architectures: [{name: a, family: mlp, domains: [tabular]}, "
            "{name: a, family: mlp, domains: [tabular]}]",
            "appears twice",
        ),
        ("archs: []", "archs: unknown key"),
    ],
)
def test_bad_user_catalog(tmp_path, body, expect):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(path) in str(info.value)
    assert expect in str(info.value)


def test_shipped_catalog_validates_in_full():
    # At run time the shipped catalog is trusted (built without validation, for start-up time);
    # here it is validated strictly and must give the very same architectures.
    from modelpick.advise.catalog import default_catalog_path, parse_catalog
    from modelpick.errors import CatalogError as _CatalogError
    from modelpick.yamlio import load_mapping

    path = default_catalog_path()
    data = load_mapping(path, _CatalogError, "catalog")
    _, strict = parse_catalog(data, str(path), trusted=False)
    _, fast = parse_catalog(data, str(path), trusted=True)
    assert [a.name for a in strict] == [a.name for a in fast]
    for s, f in zip(strict, fast):
        assert s.hparams.model_dump() == f.hparams.model_dump(), s.name
