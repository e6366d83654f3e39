"""README.md's configuration tables are the catalogue's: generated, and equal to what it
generates now."""

from __future__ import annotations

from gotrue_web.settings.catalogue import catalogue, readme
from gotrue_web.settings.catalogue.__main__ import main

from ..live.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"


def test_the_readme_tables_equal_the_catalogue():
    block = readme.current_block(README.read_text(encoding="utf-8"))
    assert block, "README.md lost its configuration-catalogue markers"
    assert block == readme.markdown(), (
        "README.md's configuration tables differ from the catalogue: run "
        "python -m gotrue_web.settings.catalogue --write")


def test_the_tables_sit_in_the_configuration_section():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):text.index("## Running in production")]
    assert readme.START in section and readme.END in section


def test_every_entry_is_a_row():
    generated = readme.markdown()
    for entry in catalogue():
        assert f"| `{entry.name}`" in generated


def test_the_command_checks_and_rewrites_a_readme(tmp_path, capsys):
    copy = tmp_path / "README.md"
    copy.write_text(f"# Title\n\nProse before.\n\n{readme.START}\nold\n{readme.END}\n\nAfter.\n")
    assert main(["--check", str(copy)]) == 1
    assert main(["--write", str(copy)]) == 0
    assert main(["--check", str(copy)]) == 0
    text = copy.read_text()
    assert text.startswith("# Title\n\nProse before.\n\n") and text.endswith("\n\nAfter.\n")
    assert main([]) == 0
    assert capsys.readouterr().out == readme.markdown()


def test_a_readme_without_markers_is_not_rewritten(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text("# Title\n")
    assert main(["--write", str(copy)]) == 1
    assert copy.read_text() == "# Title\n"
