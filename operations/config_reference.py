"""The configuration reference of docs/configuration.md, rendered from the declarations.

    python -m operations.config_reference           print the tables
    python -m operations.config_reference --write   replace them in docs/configuration.md

Each setting's default, bounds and meaning are written once, in
chalicelib/config/declarations.py; tests/unit/config/test_config_reference.py fails when the
document and the declarations differ, so the reference cannot drift from what the loader checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chalicelib.config.declarations import REFERENCE
from chalicelib.config.fields import Block, Field

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
HEADER = "| field | type | default | bounds | meaning |\n|---|---|---|---|---|"


class MarkersMissing(ValueError):
    pass


def _literal(value: Any) -> str:
    """A default as it is written in webhooks.json."""
    if value is None or value == ():
        return "none"
    if isinstance(value, bool) or value == "":
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def shown_default(entry: Field[Any] | Block) -> str:
    if entry.required:
        return "required"
    if isinstance(entry, Block):
        return entry.shown_default
    return entry.shown_default if entry.shown_default is not None else _literal(entry.default)


def shown_bounds(entry: Field[Any] | Block) -> str:
    if isinstance(entry, Block):
        return ""
    if entry.choices:
        return "one of " + ", ".join(f"`{choice}`" for choice in entry.choices)
    low, high = entry.minimum, entry.maximum
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def shown_kind(entry: Field[Any] | Block) -> str:
    if isinstance(entry, Block):
        return "object"
    return "string" if entry.kind == "text" else entry.kind


def blocks() -> Iterator[tuple[str, Block]]:
    """Every declared block with the prefix of its fields' names (`redis.`, `redis.iam.`); the
    roots' fields (a webhook's, the environment's) have none."""
    pending = [("", root) for root in reversed(REFERENCE)]
    while pending:
        prefix, block = pending.pop()
        yield prefix, block
        nested = [(f"{prefix}{entry.name}.", entry) for entry in block.fields if isinstance(entry, Block)]
        pending.extend(reversed(nested))


def render_block(prefix: str, block: Block) -> str:
    rows = [
        f"| `{prefix}{entry.name}` | {shown_kind(entry)} | {shown_default(entry)} | {shown_bounds(entry)} "
        f"| {entry.meaning} |"
        for entry in block.fields
    ]
    title = prefix.rstrip(".") or block.name
    return "\n".join([f"**{title}**: {block.meaning}", "", HEADER, *rows])


def render() -> str:
    return "\n\n".join(render_block(prefix, block) for prefix, block in blocks())


def replace_between_markers(document: str, tables: str) -> str:
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(f"the document lacks {START} ... {END}")
    return f"{document[: start + len(START)]}\n{tables}\n{document[end:]}"


def tables_in(document: str) -> str:
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(f"the document lacks {START} ... {END}")
    return document[start + len(START) : end].strip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"replace the tables in {DOCUMENT}")
    args = parser.parse_args(argv)
    tables = render()
    if not args.write:
        print(tables)
        return 0
    try:
        updated = replace_between_markers(DOCUMENT.read_text(encoding="utf-8"), tables)
    except (OSError, MarkersMissing) as exc:
        print(f"config_reference: {exc}", file=sys.stderr)
        return 1
    DOCUMENT.write_text(updated, encoding="utf-8")
    print(f"wrote the configuration reference to {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
