"""Everything a user hands us is data: before any of it reaches a terminal, control characters
and escape sequences are made visible (`\\x1b`), and rich markup in it is escaped, so that a
profile named `[red]x` or `\\x1b]0;pwned\\x07` prints as those very characters.

`clean` is for plain lines (errors, warnings); `safe` for text that goes into rich markup or a
table cell; `markup(template, *values)` formats a markup template with escaped values.
"""

from __future__ import annotations

import unicodedata

_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))  # controls, format marks, lone surrogates


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, newlines: bool = False) -> str:
    """`text` with every control, invisible format character (bidi overrides, zero-width marks)
    and lone surrogate (undecodable file-name bytes) shown as an escape. Newlines and tabs are
    kept only when `newlines` is True."""
    s = str(text)
    if s.isascii() and s.isprintable():
        return s
    keep = "\n\t" if newlines else ""
    return "".join(
        ch if ch in keep or unicodedata.category(ch) not in _HIDDEN else _escape(ch) for ch in s
    )


def safe(text: object) -> str:
    """`text` cleaned of controls and with rich markup escaped: for a markup string or a cell."""
    from rich.markup import escape

    return escape(clean(text))


def markup(template: str, *values: object) -> str:
    """`template.format(*values)` with every value passed through `safe`."""
    return template.format(*(safe(v) for v in values))
