"""Imports point one way: the door may use the queue, the queue never the door; nothing that
ships imports the tooling. Read from the source (ast), so a lazy import inside a function
counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.chalice_project import PROJECT_ROOT

CHALICELIB = PROJECT_ROOT / "chalicelib"
# Which of chalicelib's parts each part may import. The root modules (the envelope, errors,
# the log, process state) are shared by all; "root" may import nothing of the packages.
ALLOWED: dict[str, set[str]] = {
    "root": set(),
    "verification": {"root"},
    "config": {"root", "verification"},
    "delivery": {"root", "config"},
    "queue": {"root", "config", "delivery"},
    "door": {"root", "config", "verification", "delivery", "queue"},
    "status": {"root", "config", "delivery", "queue", "door"},
}
TOOLING = ("operations", "devstack", "bench", "scripts", "tests", "app")


def part_of(module: str) -> str:
    """`chalicelib.door.receive` -> door; `chalicelib.envelope` -> root."""
    parts = module.split(".")
    if len(parts) >= 2 and (CHALICELIB / parts[1]).is_dir():
        return parts[1]
    return "root"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def chalicelib_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(CHALICELIB.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).with_suffix("")
        modules[".".join(relative.parts).removesuffix(".__init__")] = path
    return modules


def test_every_package_of_chalicelib_is_placed_in_the_import_order() -> None:
    # given the packages on disk
    packages = {path.name for path in CHALICELIB.iterdir() if (path / "__init__.py").exists()}
    # then each has a line in ALLOWED (a new package must say where it stands)
    assert packages <= set(ALLOWED), packages - set(ALLOWED)


def test_chalicelib_packages_import_only_the_packages_below_them() -> None:
    # given every module of chalicelib
    wrong = []
    for module, path in chalicelib_modules().items():
        source_part = part_of(module)
        # when its imports are read
        for imported in imported_modules(path):
            if not imported.startswith("chalicelib."):
                continue
            target_part = part_of(imported)
            if target_part != source_part and target_part not in ALLOWED[source_part]:
                wrong.append(f"{module} imports {imported}")
    # then none points the wrong way
    assert wrong == []


def test_nothing_that_ships_imports_the_tooling() -> None:
    # given what reaches Lambda: app.py and chalicelib/
    shipped = [PROJECT_ROOT / "app.py", *chalicelib_modules().values()]
    # when their imports are read
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)} imports {imported}"
        for path in shipped
        for imported in imported_modules(path)
        if imported.split(".")[0] in TOOLING
    ]
    # then none names operations/, devstack/, bench/, scripts/ or tests/
    assert wrong == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    # given a module of the queue that imports the door
    module = tmp_path / "drain.py"
    module.write_text("def f():\n    from chalicelib.door.receive import receive\n")
    # when its imports are read, then the door shows, so the rule above can fail
    imported = imported_modules(module)
    assert "chalicelib.door.receive" in imported
    assert part_of("chalicelib.door.receive") == "door"
    assert "door" not in ALLOWED["queue"]
