"""The README's configuration tables, generated from the catalogue: one table per group, between
two marker comments in README.md (``python -m gotrue_web.settings.catalogue --write``)."""

from __future__ import annotations

from pathlib import Path

from . import DIFFERENT, HONOURED, PLACEHOLDERS, Variable, catalogue

START = ("<!-- configuration-catalogue:start (generated: python -m gotrue_web.settings.catalogue "
         "--write) -->")
END = "<!-- configuration-catalogue:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _names(entry: Variable) -> str:
    text = " or ".join(f"`{name}`" for name in (entry.name, *entry.aliases))
    if entry.legacy:
        text += " (not read: " + ", ".join(f"`{name}`" for name in entry.legacy) + ")"
    return text


def _status(entry: Variable) -> str:
    if entry.status == HONOURED:
        return "honoured"
    if entry.status == DIFFERENT:
        return f"with a difference: {entry.note}"
    return f"**not supported**: {entry.note}"


def markdown() -> str:
    """The generated block, markers included."""
    groups: dict[str, list[Variable]] = {}
    for entry in catalogue():
        groups.setdefault(entry.group, []).append(entry)
    lines = [START, ""]
    for group, entries in groups.items():
        lines += [f"**{group}**", "", "| Variable | Default | Meaning | Status |",
                  "|---|---|---|---|"]
        lines += [f"| {_cell(_names(entry))} | {_cell(entry.default)} | {_cell(entry.meaning)} "
                  f"| {_cell(_status(entry))} |" for entry in entries]
        lines.append("")
    lines.append("In the names above, " + "; ".join(
        f"`{key}` is one of {', '.join(f'`{value}`' for value in values)}"
        for key, values in PLACEHOLDERS.items()) + ".")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def current_block(readme: str) -> str:
    """The block as README.md has it now, markers included ("" when it has none)."""
    start = readme.find(START)
    end = readme.find(END, start)
    if start < 0 or end < 0:
        return ""
    return readme[start:end + len(END)] + "\n"


def rewrite(path: Path) -> bool:
    """Put the generated block in place of the old one; False when the markers are missing."""
    text = path.read_text(encoding="utf-8")
    old = current_block(text)
    if not old:
        return False
    path.write_text(text.replace(old, markdown(), 1), encoding="utf-8")
    return True
