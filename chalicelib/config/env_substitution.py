"""`${VAR}` and `${VAR:-default}` in webhooks.json string values."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class MissingVariable(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def substitute(text: str, environ: Mapping[str, str]) -> str:
    """Replace every reference; a variable that is unset (or empty, with `:-`) takes its default."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        default = match.group("default")
        value = environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            raise MissingVariable(name)
        return value

    return _REFERENCE.sub(replace, text)


def required_by_name(text: str) -> dict[str, bool]:
    """Every variable `text` refers to: True when some reference has no default (it must be set)."""
    found: dict[str, bool] = {}
    for match in _REFERENCE.finditer(text):
        name = match.group("name")
        found[name] = found.get(name, False) or match.group("default") is None
    return found


def defaults_by_name(text: str) -> dict[str, str]:
    """The default of each variable `text` gives one (`${VAR:-default}`), from its first such reference."""
    found: dict[str, str] = {}
    for match in _REFERENCE.finditer(text):
        if match.group("default") is not None:
            found.setdefault(match.group("name"), match.group("default"))
    return found
