"""A webhook's JSON Schema, compiled once when the config loads, safely.

Three ways a schema could hurt the relay, each closed here:
- compiling it can raise anything (an invalid `pattern` raises re.error, not fastjsonschema's
  own error): every failure is a ConfigError naming the field, so the app still imports and
  answers 503 + Retry-After instead of 500;
- a `$ref` to another document makes fastjsonschema fetch it with urlopen at start: only
  local `#...` pointers are taken, and the fetchers are replaced by refusals besides;
- a request may spend at most 100 ms in schema checks. fastjsonschema's `email` and
  `idn-email` regexes are quadratic (64 KiB of dots took seconds): those two formats are
  checked by linear functions with the same verdicts (but for a `..` after a line break in
  the local part, which only they refuse). `regex` compiles the sender's string,
  about 5 us per character (0.8 s for a 168 KiB body): it is not checked. The other built-in
  formats were measured linear (at most about 40 ms for a 168 KiB adversarial string);
  tests/unit/door/test_schema_safety.py runs every format on such strings.
A `pattern` the operator writes runs as written: keep it free of nested quantifiers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.config import declarations as declared
from chalicelib.config.declarations import DataType
from chalicelib.config.fields import FieldBlock
from chalicelib.config.model import PayloadSchema

# fastjsonschema fetches a remote document by its URI scheme's handler, else with urlopen.
REMOTE_SCHEMES = ("http", "https", "ftp", "file", "data")


def is_email(value: str) -> bool:
    """fastjsonschema's `email` (one @; a local part that neither starts nor ends with a dot
    and holds no `..`; a domain with a dot inside it), in one pass instead of a regex that
    backtracks quadratically."""
    local, at, domain = value.partition("@")
    return (
        bool(at)
        and "@" not in domain
        and local[:1] not in ("", ".")
        and not local.endswith(".")
        and ".." not in local
        and "." in domain[1:-1]
    )


def is_idn_email(value: str) -> bool:
    """fastjsonschema's `idn-email` (something, one @, a domain with a dot inside it)."""
    local, at, domain = value.partition("@")
    return bool(local) and bool(at) and "@" not in domain and "." in domain[1:-1]


def not_checked(value: str) -> bool:
    """For `regex`: any string passes, since compiling it would exceed the time budget."""
    return True


# Replace fastjsonschema's own checks of these formats.
FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {"email": is_email, "idn-email": is_idn_email, "regex": not_checked}


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"$ref {uri!r} points outside the schema; only local references (#...) are taken")


def _refs(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    pending: list[tuple[Any, str]] = [(node, where)]
    while pending:
        current, path = pending.pop()
        if isinstance(current, dict):
            for key, child in current.items():
                if key == "$ref":
                    yield path, child
                pending.append((child, f"{path}/{key}"))
        elif isinstance(current, list):
            pending.extend((child, f"{path}/{index}") for index, child in enumerate(current))


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """The compiled check; raises ValueError saying what is wrong with the schema."""
    # Imported here: only a webhook with a schema needs it (~1.5 ms of a cold start, bench B5).
    import fastjsonschema

    for path, ref in _refs(schema, "#"):
        # A $ref that is not a string is a property named "$ref" (or fails to compile below).
        if isinstance(ref, str) and not ref.startswith("#"):
            raise ValueError(f"$ref {ref!r} at {path} is not a local reference (#...): nothing is fetched")
    try:
        return fastjsonschema.compile(
            schema, handlers=dict.fromkeys(REMOTE_SCHEMES, _refuse_remote), formats=FORMAT_CHECKS
        )
    except Exception as exc:  # re.error, RecursionError, ...: whatever fails is a config error
        raise ValueError(f"is not a valid JSON Schema: {exc}") from exc


def parse_schema(parent: FieldBlock, data_type: DataType) -> PayloadSchema | None:
    raw = parent.raw.get(declared.SCHEMA.name)
    if raw is None:
        return None
    if data_type == "blob":
        raise parent.error("schema", "does not apply to data_type blob")
    source = "inline"
    if isinstance(raw, str):
        schema_path = os.path.join(os.path.dirname(os.path.abspath(parent.path)), raw)
        try:
            with open(schema_path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise parent.error("schema", f"cannot read the schema file {schema_path}: {exc}") from exc
        source = schema_path
    if not isinstance(raw, dict):
        raise parent.error("schema", "must be a JSON Schema object or the path of a file holding one")
    try:
        validate = compile_schema(raw)
    except ValueError as exc:
        raise parent.error("schema", str(exc)) from exc
    return PayloadSchema(source=source, validate=validate)
