"""Safe YAML reading for user files: one clear error per problem, never a traceback.

Only `yaml.SafeLoader` is used, so a `!!python/...` tag never runs anything. On top of it:
duplicate keys are errors (PyYAML silently keeps the last), and the event stream is checked
before anything is built, so that an alias bomb ("billion laughs") or a deeply nested document
is refused in microseconds instead of exhausting memory or the stack.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import InputError

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ALIASES = 100


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; SafeLoader reports it next
                break
            if duplicate:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _check_events(text: str, source: str, error: type[InputError]) -> None:
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise error(f"{source}: nested more than {MAX_DEPTH} levels deep; refusing to read it")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(
                    f"{source}: more than {MAX_ALIASES} YAML aliases (*name); refusing a "
                    "possible alias bomb"
                )


def read_text(path: str | Path, error: type[InputError], what: str) -> str:
    """Read a user file as UTF-8 text, translating every OS problem into `error`."""
    p = Path(path)
    if not p.exists():
        raise error(f"{p}: no such file")
    if p.is_dir():
        raise error(f"{p}: is a directory; expected a {what} YAML file")
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{p}: {size:,} bytes is too large for a {what} (limit {MAX_BYTES:,})")
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        raise error(f"{p}: is a binary file; expected a {what} YAML file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: is not UTF-8 text (byte {exc.start}); expected a {what} YAML file") from exc


def load_mapping(path: str | Path, error: type[InputError], what: str) -> dict:
    """Load a YAML file whose top level must be a mapping."""
    text = read_text(path, error, what)
    source = str(path)
    if not text.strip():
        raise error(f"{source}: the file is empty; expected a {what}")
    try:
        _check_events(text, source, error)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "malformed YAML"
        raise error(f"{source}: {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply; refusing to read it") from None
    if data is None:
        raise error(f"{source}: the file holds no YAML document; expected a {what}")
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping ({what} fields) at the top, got a {_kind(data)}")
    return data


def _kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
