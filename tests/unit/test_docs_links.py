"""The README is an entrance and docs/ is behind it: every relative link must lead somewhere
(a file that exists, and for `file.md#anchor` a heading that exists), every path of the
project the docs name (`chalicelib/...`, `devstack/...`, `tests/...`) must exist, and the
README must stay short enough to read as an entrance.
Read from the files as a reader sees them on GitHub, so a moved module or a renamed heading
fails here instead of in front of a reader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.chalice_project import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCUMENTS = [README, PROJECT_ROOT / "bench" / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
# Issue 11: "at most about 200 lines"; the margin lets a line or two land without a fight.
README_MAX_LINES = 220
# Files the docs name that exist only while a tool runs: `make deploy` and `make package`
# copy webhooks.json into chalicelib/ for the build and remove it afterwards (gitignored).
GENERATED_PATHS = {"chalicelib/webhooks.json"}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# A path of the project as the docs write it; one with a placeholder (`tests/unit/<package>/`)
# is a pattern for the reader, not a path.
PROJECT_PATH = re.compile(r"(?<![\w./-])(?:chalicelib|devstack|operations|scripts|bench|tests|docs)/[\w./*<>-]*")


def prose(text: str) -> str:
    """The text without code blocks and code spans: a `[x](y)` inside code is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to
    hyphens (`With \\`make deploy\\`` -> `with-make-deploy`)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors_in(path: Path) -> set[str]:
    """Every heading's anchor, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        anchor = anchor_of(heading)
        count = seen.get(anchor, 0)
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
        seen[anchor] = count + 1
    return anchors


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...
    ]


def broken_link(document: Path, target: str) -> str | None:
    """Why `target`, linked from `document`, leads nowhere; None when it leads somewhere."""
    file_part, _, anchor = target.partition("#")
    linked = (document.parent / file_part).resolve() if file_part else document
    if not linked.exists():
        return f"{target}: no file {linked}"
    if anchor and linked.suffix == ".md" and anchor not in anchors_in(linked):
        return f"{target}: no heading with anchor #{anchor} in {linked.name}"
    return None


def missing_project_paths(document: Path) -> list[str]:
    missing = []
    for mention in PROJECT_PATH.findall(document.read_text(encoding="utf-8")):
        path = mention.rstrip(".,;:")
        if path in GENERATED_PATHS or "<" in path:
            continue
        found = any(PROJECT_ROOT.glob(path)) if "*" in path else (PROJECT_ROOT / path).exists()
        if not found:
            missing.append(path)
    return missing


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_every_relative_link_leads_to_an_existing_file_and_heading(document: Path) -> None:
    # given a document of the README or docs/
    # when every relative link in it is followed
    broken = [reason for target in relative_links(document) if (reason := broken_link(document, target))]

    # then each one reaches a file, and a heading of it when it names one
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_every_project_path_the_docs_name_exists(document: Path) -> None:
    # given a document that names modules and folders of the project
    # when each named path is looked up in the tree
    missing = missing_project_paths(document)

    # then every one is there (a module that moved must be renamed in the docs too)
    assert missing == []


def test_readme_stays_short_enough_to_be_an_entrance() -> None:
    # given the README, whose details live in docs/
    # when its lines are counted
    lines = len(README.read_text(encoding="utf-8").splitlines())

    # then it is still an entrance, not the manual
    assert lines <= README_MAX_LINES


def test_readme_links_to_every_document_in_docs() -> None:
    # given the documents in docs/
    documents = {path.name for path in (PROJECT_ROOT / "docs").glob("*.md")}

    # when the README's links are collected
    linked = {Path(target.partition("#")[0]).name for target in relative_links(README)}

    # then a reader who starts at the README can reach each of them
    assert documents - linked == set()


def test_the_link_checker_sees_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    # given a document linking to a file that exists, a heading that does not, and no file
    (tmp_path / "other.md").write_text("# Other\n\n## With `make deploy`\n", encoding="utf-8")
    document = tmp_path / "doc.md"
    document.write_text(
        "[ok](other.md#with-make-deploy) [no heading](other.md#nope) [no file](gone.md)\n"
        "```\n[in code](ignored.md)\n```\n",
        encoding="utf-8",
    )

    # when its links are checked
    reasons = [broken_link(document, target) for target in relative_links(document)]

    # then the good link passes, both broken ones are named, and the code block is skipped
    assert reasons[0] is None
    assert "no heading with anchor #nope" in (reasons[1] or "")
    assert "no file" in (reasons[2] or "")
    assert len(reasons) == 3


def test_the_path_checker_names_a_module_that_moved(tmp_path: Path) -> None:
    # given a document naming a module that exists, one that moved away, and a placeholder
    document = tmp_path / "doc.md"
    document.write_text(
        "`chalicelib/door/receive.py`, `chalicelib/door.py`, `tests/unit/<package>/`.\n", encoding="utf-8"
    )

    # when the paths it names are looked up
    missing = missing_project_paths(document)

    # then only the one that moved is reported
    assert missing == ["chalicelib/door.py"]
