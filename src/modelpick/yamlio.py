"""Safe YAML reading for user files: one clear error per problem, never a traceback.

Only `yaml.SafeLoader` is used, so a `!!python/...` tag never runs anything. On top of it:
duplicate keys are errors (PyYAML silently keeps the last), and the event stream is checked
before anything is built, so that an alias bomb ("billion laughs") or a deeply nested document
is refused in microseconds instead of exhausting memory or the stack.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import InputError
from .safeio import read_limited

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_NODES = 100_000  # values that aliases may add once expanded


# libyaml's C parser when PyYAML was built with it (the wheels are): ~10× faster than the pure
# Python one, which matters because every `recommend` reads the catalog.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _UniqueKeyLoader(_BaseLoader):
    # No implicit timestamps: `2020-01-01` stays the text the user wrote (no field of ours is a
    # date, and a date object as a key or a name only makes confusing errors).
    # Floats as YAML 1.2 reads them: `1e-3` is a number (YAML 1.1, PyYAML's default, wants a
    # dot and reads `1e-3` as text, which then fails as "not a number" in a budget field).
    yaml_implicit_resolvers = {
        first: [
            (tag, _FLOAT if tag == "tag:yaml.org,2002:float" else regexp)
            for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp"
        ]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node):
        """An integer too long for int() (more than 4,300 digits) stays text, so that validation
        names the field it was given for instead of the parser failing on the whole file."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; SafeLoader reports it next
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


def _check_events(text: str, source: str, error: type[InputError]) -> None:
    """Refuse, from the event stream alone, what would be too deep or expand too far.

    Counting aliases is not enough: 40 anchors each holding two aliases of the previous one
    expand to 2**40 values. So every anchor's expanded size is tracked, and an alias adds the
    size of what it names. An alias to a collection still open (a recursive document) is refused.
    """
    depth = aliases = nodes = via_aliases = 0
    sizes: dict[str, int] = {}  # anchor -> values it expands to
    open_: list[tuple[str | None, int]] = []  # (anchor, nodes before it) of open collections
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise error(
                    f"{source}: nested more than {MAX_DEPTH} levels deep; refusing to read it"
                )
            open_.append((event.anchor, nodes))
            nodes += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = open_.pop()
            if anchor is not None:
                sizes[anchor] = nodes - start
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(
                    f"{source}: more than {MAX_ALIASES} YAML aliases (*name); refusing a "
                    "possible alias bomb"
                )
            if any(anchor == event.anchor for anchor, _ in open_):
                raise error(
                    f"{source}: the alias *{event.anchor} refers to a collection that contains "
                    "it (a recursive document); refusing to read it"
                )
            size = sizes.get(event.anchor, 1)
            nodes += size
            via_aliases += size
            if via_aliases > MAX_NODES:
                raise error(
                    f"{source}: YAML aliases (*name) expand it to more than {MAX_NODES:,} "
                    "values; refusing a possible alias bomb"
                )


def read_text(path: str | Path, error: type[InputError], what: str) -> str:
    """Read a user file as UTF-8 text (a regular file of at most MAX_BYTES; never a fifo or a
    device), translating every OS problem into `error`."""
    p = Path(path)
    data = read_limited(p, error, f"{what} YAML file", MAX_BYTES)
    if b"\x00" in data:
        raise error(f"{p}: is a binary file; expected a {what} YAML file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{p}: is not UTF-8 text (byte {exc.start}); expected a {what} YAML file"
        ) from exc


def load_mapping(
    path: str | Path, error: type[InputError], what: str, trusted: bool = False
) -> dict:
    """Load a YAML file whose top level must be a mapping.

    `trusted` (the files modelpick ships) skips the alias-bomb and depth pre-check.
    """
    text = read_text(path, error, what)
    source = str(path)
    if not text.strip():
        raise error(f"{source}: the file is empty; expected a {what}")
    try:
        if not trusted:
            _check_events(text, source, error)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = exc.context
        if context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            context += f" (from line {exc.context_mark.line + 1})"
        problem = ", ".join(p for p in (context, exc.problem) if p) or "malformed YAML"
        raise error(f"{source}: {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply; refusing to read it") from None
    except ValueError as exc:  # an integer of thousands of digits (int's conversion limit)
        if "digits" not in str(exc):
            raise error(f"{source}: malformed YAML: {exc}") from None
        raise error(f"{source}: a number of more than 4,300 digits; refusing to read it") from None
    if data is None:
        raise error(f"{source}: the file holds no YAML document; expected a {what}")
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping ({what} fields) at the top, got a {_kind(data)}")
    if not trusted:  # the shipped files are checked by the test suite, not on every run
        _check_keys(data, "", source, error)
    return data


def _check_keys(value, path: str, source: str, error: type[InputError]) -> None:
    """Every mapping key is text: a number, a boolean or binary as a key is no field name."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                shown = repr(key) if len(repr(key)) <= 40 else repr(key)[:37] + "..."
                raise error(
                    f"{source}: {path or 'top level'}: keys must be text; received the "
                    f"{_kind(key)} {shown} as a key"
                )
            _check_keys(item, f"{path}.{key}" if path else key, source, error)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_keys(item, f"{path}[{i}]", source, error)


def _kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
