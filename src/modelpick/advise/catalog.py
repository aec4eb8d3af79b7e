"""The catalog: named architectures and size grids, and their expansion for one task.

`load_catalog` validates the YAML (family hyperparameters included) and expands grids into
`Architecture`s; `expand_candidates` builds each applicable one's Graph for a profile and says,
for each that cannot serve it, why.
"""

from __future__ import annotations

import difflib
import importlib.resources
import itertools
import math
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import CatalogError, InputError, UnknownNameError
from ..families import FAMILIES, HParams, IOSpec, Unsupported, build_graph
from ..graph import Graph, GraphCost, ShapeError, cost
from ..yamlio import load_mapping
from .profile import DOMAINS, describe_error

INPUT_FIELDS = (
    "channels",
    "height",
    "width",
    "seq_len",
    "vocab_size",
    "features",
    "sample_rate",
    "seconds",
    "frames",
    "mel_bins",
)


class EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    name: str = Field(min_length=1, max_length=100)
    family: Literal["cnn", "rnn", "transformer", "mlp", "decoder"]
    domains: list[Literal["vision", "text", "audio", "timeseries", "tabular"]] = Field(min_length=1)
    tasks: list[Literal["classification", "regression", "generation"]] = [
        "classification",
        "regression",
    ]
    description: str = ""
    source: str = ""
    reference_params: int | None = Field(None, gt=0)
    reference_backend: Literal["torch", "tensorflow"] = "torch"
    reference_input: dict[str, int | float] | None = None
    fixed: dict[str, int | float] | None = None
    hparams: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}


class CatalogSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    replace: bool = False
    architectures: list[EntrySpec]


class Architecture(NamedTuple):
    """One concrete architecture: a catalog entry at one point of its grid."""

    name: str
    family: str
    entry: EntrySpec
    hparams: HParams

    @property
    def domains(self) -> list[str]:
        return self.entry.domains


class Catalog(NamedTuple):
    architectures: tuple[Architecture, ...]
    sources: tuple[str, ...]
    by_name: dict[str, Architecture]

    def get(self, name: str) -> Architecture:
        """The architecture called `name`, or UnknownNameError with the closest names."""
        if name in self.by_name:
            return self.by_name[name]
        close = difflib.get_close_matches(name, list(self.by_name), n=3, cutoff=0.5)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else "; `modelpick catalog list` shows them all"
        )
        raise UnknownNameError(f"unknown architecture {name!r}{hint}")


def default_catalog_path() -> Path:
    try:
        return Path(str(importlib.resources.files("modelpick.configs") / "catalog.yaml"))
    except ModuleNotFoundError:  # running from a source tree without installing
        return Path(__file__).resolve().parents[2] / "configs" / "catalog.yaml"


def _tuples(value):
    """YAML lists as tuples, as validation would make them (for the trusted path)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


MAX_ARCHITECTURES = 10_000  # per catalog file, grids expanded
_FIELD = re.compile(r"\{([^{}]*)\}")


def _grid_size(spec: CatalogSpec, source: str) -> None:
    """Refuse, before expanding anything, a catalog whose grids multiply past the limit."""
    total = 0
    for i, entry in enumerate(spec.architectures):
        size = math.prod(len(v) for v in entry.grid.values()) if entry.grid else 1
        total += size
        if total > MAX_ARCHITECTURES:
            raise CatalogError(
                f"{source}: architectures[{i}].grid: expands the catalog to more than "
                f"{MAX_ARCHITECTURES:,} architectures ({size:,} from this entry alone); "
                "split it or narrow its grid"
            )


def _name(template: str, label: dict, where: str) -> str:
    """The entry's name with its grid fields filled in. Braces that name no grid field are
    an error (a typo such as {widht} would otherwise give every size the same name)."""

    def fill(m: re.Match) -> str:
        key = m.group(1)
        if key not in label:
            raise CatalogError(
                f"{where}.name: {{{key}}} is not a grid field of this entry; expected one of: "
                f"{', '.join(label) or '(no grid)'}; received {template!r}"
            )
        return str(label[key])

    name = _FIELD.sub(fill, template)
    if "{" in name or "}" in name:
        raise CatalogError(f"{where}.name: unbalanced braces in {template!r}")
    return name


def _expand_entry(entry: EntrySpec, index: int, source: str, trusted: bool) -> list[Architecture]:
    where = f"{source}: architectures[{index}]"
    family = FAMILIES[entry.family]
    keys = list(entry.grid)
    if keys:
        missing = [k for k in keys if "{" + k + "}" not in entry.name]
        if missing:
            raise CatalogError(
                f"{where}.name: a grid entry's name must contain {{{missing[0]}}} so that every "
                f"size gets its own name; received {entry.name!r}"
            )
        empty = [k for k in keys if not entry.grid[k]]
        if empty:
            raise CatalogError(f"{where}.grid.{empty[0]}: expected at least one value")
    out = []
    for combo in itertools.product(*(entry.grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        try:
            merged = {**entry.hparams, **values}
            if trusted:
                hparams = family.params.model_construct(**_tuples(merged))
            else:
                hparams = family.params.model_validate(_tuples(merged))
        except ValidationError as exc:
            raise CatalogError(
                describe_error(
                    exc, source, merged, (), family.params, prefix=f"architectures[{index}].hparams"
                )
            ) from None
        label = {k: "x".join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()}
        out.append(Architecture(_name(entry.name, label, where), entry.family, entry, hparams))
    return out


def parse_catalog(
    data: dict, source: str, trusted: bool = False
) -> tuple[bool, list[Architecture]]:
    """Validate and expand a catalog document. `trusted` (the shipped catalog, which the test
    suite validates in full) skips validation: building pydantic schemas costs start-up time."""
    try:
        if trusted:
            entries = [EntrySpec.model_construct(**e) for e in data["architectures"]]
            spec = CatalogSpec.model_construct(replace=False, architectures=entries)
        else:
            spec = CatalogSpec.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(describe_error(exc, source, data, (), CatalogSpec)) from None
    _grid_size(spec, source)
    archs: list[Architecture] = []
    for i, entry in enumerate(spec.architectures):
        archs += _expand_entry(entry, i, source, trusted)
    seen: set[str] = set()
    for arch in archs:
        if arch.name in seen:
            raise CatalogError(f"{source}: architecture name {arch.name!r} appears twice")
        seen.add(arch.name)
    return spec.replace, archs


def load_catalog(extra: str | Path | None = None) -> Catalog:
    """The default catalog, extended (or replaced) by the user's catalog file `extra`."""
    path = default_catalog_path()
    data = load_mapping(path, CatalogError, "catalog", trusted=True)
    _, archs = parse_catalog(data, str(path), trusted=True)
    sources = [str(path)]
    if extra is not None:
        replace, user = parse_catalog(load_mapping(extra, CatalogError, "catalog"), str(extra))
        names = {a.name for a in user}
        archs = user if replace else [a for a in archs if a.name not in names] + user
        sources = [str(extra)] if replace else sources + [str(extra)]
    return Catalog(tuple(archs), tuple(sources), {a.name: a for a in archs})


# --- expansion for one task -----------------------------------------------------------------


def io_spec(profile) -> IOSpec:
    """The model's input and output, as the families see them, for a task profile."""
    inp = profile.input
    common = dict(domain=profile.domain, task=profile.task, outputs=profile.outputs)
    if profile.domain == "vision":
        return IOSpec(layout="image", shape=(inp.channels, inp.height, inp.width), **common)
    if profile.domain == "text":
        return IOSpec(layout="tokens", shape=(inp.seq_len,), vocab_size=inp.vocab_size, **common)
    if profile.domain == "audio":
        if inp.frames is not None:
            return IOSpec(layout="sequence", shape=(inp.frames, inp.mel_bins), **common)
        samples = max(1, round(inp.sample_rate * inp.seconds))
        frame = max(1, inp.sample_rate // 50)  # 20 ms frames
        return IOSpec(layout="waveform", shape=(1, samples), frame=frame, **common)
    if profile.domain == "timeseries":
        return IOSpec(layout="sequence", shape=(inp.seq_len, inp.features), **common)
    return IOSpec(layout="vector", shape=(inp.features,), **common)


class Built(NamedTuple):
    """An architecture built for a task: its graph and exact cost."""

    arch: Architecture
    graph: Graph
    cost: GraphCost


class Rejection(NamedTuple):
    name: str
    family: str
    reason: str
    precision: str | None = None
    # which limit: input | max_params | memory_gb | latency_ms | train_minutes | several
    constraint: str = "input"
    miss_ratio: float = 0.0  # how far past the (worst) limit: 1.5 = 50 % over
    params: int | None = None
    misses: tuple[tuple[str, float], ...] = ()  # every limit missed, with its ratio


def fixed_mismatch(arch: Architecture, profile) -> str | None:
    fixed = arch.entry.fixed or {}
    have = profile.input.model_dump()
    have["outputs"] = profile.outputs
    for key, want in fixed.items():
        got = have.get(key)
        if got != want:
            what = "outputs" if key == "outputs" else f"input {key}"
            return f"{arch.name} is defined for {what} {want}; the profile has {got}"
    return None


def build_for(arch: Architecture, io: IOSpec, backend: str = "torch") -> Built:
    graph = build_graph(arch.family, arch.name, arch.hparams, io)
    return Built(arch, graph, cost(graph, backend))


def build_named(catalog: Catalog, name: str, profile) -> Built:
    """Build one named architecture for `profile`, or raise InputError saying why it cannot."""
    arch = catalog.get(name)
    if profile.domain not in arch.domains:
        domains = "/".join(arch.domains)
        raise InputError(
            f"{arch.name} is a {domains} architecture; the profile is {profile.domain}"
        )
    if profile.task not in arch.entry.tasks:
        raise InputError(
            f"{arch.name} is for {'/'.join(arch.entry.tasks)}; the profile is {profile.task}"
        )
    reason = fixed_mismatch(arch, profile)
    if reason:
        raise InputError(reason)
    try:
        return build_for(arch, io_spec(profile), profile.preferences.backend)
    except (Unsupported, ShapeError) as exc:
        raise InputError(f"{arch.name} cannot serve this profile: {exc}") from None


def expand_candidates(catalog: Catalog, profile) -> tuple[list[Built], list[Rejection], int]:
    """Build every catalog architecture that applies to `profile`.

    Returns the built ones, the rejected ones with their reasons, and how many entries do not
    apply to this domain or task at all (not listed: a vision model is no candidate for text).
    """
    io = io_spec(profile)
    backend = profile.preferences.backend
    families = profile.preferences.families
    built: list[Built] = []
    rejected: list[Rejection] = []
    skipped = 0
    for arch in catalog.architectures:
        if profile.domain not in arch.domains or profile.task not in arch.entry.tasks:
            skipped += 1
            continue
        if families and arch.family not in families:
            skipped += 1
            continue
        reason = fixed_mismatch(arch, profile)
        if reason is None:
            try:
                built.append(build_for(arch, io, backend))
                continue
            except (Unsupported, ShapeError) as exc:
                reason = str(exc)
        rejected.append(Rejection(arch.name, arch.family, reason))
    return built, rejected, skipped


def reference_io(arch: Architecture) -> IOSpec | None:
    """The input an entry's `reference_params` was counted at (its `reference_input` or `fixed`)."""
    ref = dict(arch.entry.reference_input or arch.entry.fixed or {})
    if not ref:
        return None
    outputs = int(ref.pop("outputs", 2))
    domain = arch.domains[0]
    task = arch.entry.tasks[0]
    fields = {
        "vision": ("image", lambda r: (r["channels"], r["height"], r["width"])),
        "text": ("tokens", lambda r: (r["seq_len"],)),
        "tabular": ("vector", lambda r: (r["features"],)),
    }
    if domain not in fields:
        return None
    layout, shape = fields[domain]
    r = {"seq_len": 16, **ref}
    return IOSpec(
        domain,
        task,
        layout,
        tuple(int(x) for x in shape(r)),
        outputs,
        vocab_size=int(r.get("vocab_size", 0)),
    )


__all__ = [
    "DOMAINS",
    "INPUT_FIELDS",
    "Architecture",
    "Built",
    "Catalog",
    "Rejection",
    "build_for",
    "expand_candidates",
    "io_spec",
    "load_catalog",
    "reference_io",
]
