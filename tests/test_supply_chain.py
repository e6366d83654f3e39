"""The lock files and the dependency audit (bin/lock, bin/audit).

The locks must pin, with hashes, every dependency pyproject.toml names, at versions its bounds
admit (a dependency added without re-running bin/lock fails here, with the command to run), and
the test lock must carry the image's runtime versions unchanged. bin/_audit_report.py, which turns
pip-audit's report into CI's verdict, is checked on reports of each kind.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "requirements"
# "name==version [; marker] \" then one "    --hash=sha256:..." line per file.
ENTRY = re.compile(r"^(?P<requirement>[A-Za-z0-9][^\s\\]*(?: ; [^\\]+)?) \\\n"
                   r"(?P<hashes>(?:    --hash=\S+(?: \\)?\n)+)", re.M)


def _locked(name: str) -> dict[str, str]:
    """Package -> pinned version, for the entries whose markers apply to this interpreter."""
    text = (LOCKS / f"{name}.lock").read_text()
    pins: dict[str, str] = {}
    for match in ENTRY.finditer(text):
        requirement = Requirement(match["requirement"])
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", match["requirement"]
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", match["hashes"]), match["requirement"]
        if requirement.marker is None or requirement.marker.evaluate():
            pins[canonicalize_name(requirement.name)] = specifier.version
    # Every requirement line was read as an entry: none without hashes slipped past the pattern.
    names = re.findall(r"^[A-Za-z0-9][^\s=]*==", text, re.M)
    assert len(names) == len(ENTRY.findall(text)), name
    return pins


def _declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return ([Requirement(r) for r in project["dependencies"]],
            [Requirement(r) for r in project["optional-dependencies"]["test"]])


@pytest.mark.parametrize("lock", ["runtime", "test"])
def test_lock_pins_every_declared_dependency_within_its_bounds(lock):
    runtime, test_extra = _declared()
    pins = _locked(lock)
    wanted = runtime + (test_extra if lock == "test" else [])
    missing = [str(r) for r in wanted if canonicalize_name(r.name) not in pins]
    outside = [f"{r} (locked {pins[canonicalize_name(r.name)]})" for r in wanted
               if canonicalize_name(r.name) in pins
               and not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)]
    assert not missing and not outside, (
        f"requirements/{lock}.lock is out of date with pyproject.toml; run bin/lock. "
        f"Missing: {missing}; outside the bounds: {outside}")


def test_tests_run_against_the_versions_the_image_ships():
    runtime, tested = _locked("runtime"), _locked("test")
    differing = {name: (version, tested.get(name)) for name, version in runtime.items()
                 if tested.get(name) != version}
    assert not differing


def test_jinja2_below_the_sandbox_fix_is_refused():
    # Jinja2 below 3.1.6 lets a template escape the sandbox the email templates run in; an
    # existing install of 3.1.5 must not satisfy pyproject.toml.
    runtime, _ = _declared()
    jinja2 = next(r for r in runtime if canonicalize_name(r.name) == "jinja2")
    assert not jinja2.specifier.contains("3.1.5")
    assert Version(_locked("runtime")["jinja2"]) >= Version("3.1.6")


# --- bin/_audit_report.py -------------------------------------------------------------------

def _report_module():
    spec = importlib.util.spec_from_file_location("audit_report",
                                                  ROOT / "bin" / "_audit_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AUDITED_CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
# Shaped like pip-audit's JSON output; the advisory IDs are made up.
VULNERABLE = {"name": "jinja2", "version": "3.1.5", "vulns": [
    {"id": "GHSA-aaaa-bbbb-cccc", "aliases": ["CVE-2000-0001"], "fix_versions": ["3.1.6"],
     "description": "sandbox breakout"}]}


def _run(tmp_path, capsys, monkeypatch, dependencies, ignores="", required=False):
    monkeypatch.setenv("GOTRUE_WEB_AUDIT_REQUIRED", "1" if required else "0")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    ignore_file = tmp_path / "ignore.txt"
    ignore_file.write_text(ignores)
    status = _report_module().main(str(report), str(ignore_file))
    return status, capsys.readouterr().out


def test_audit_fails_on_a_known_vulnerability(tmp_path, capsys, monkeypatch):
    status, out = _run(tmp_path, capsys, monkeypatch, [AUDITED_CLEAN, VULNERABLE])
    assert status == 1
    assert "jinja2 3.1.5: GHSA-aaaa-bbbb-cccc (fixed in: 3.1.6)" in out


def test_audit_passes_an_acknowledged_advisory_and_says_why(tmp_path, capsys, monkeypatch):
    status, out = _run(tmp_path, capsys, monkeypatch, [AUDITED_CLEAN, VULNERABLE],
                       ignores="# comment\nCVE-2000-0001  templates never use |attr here\n")
    assert status == 0
    assert "ignored jinja2 3.1.5: GHSA-aaaa-bbbb-cccc (templates never use |attr here)" in out


def test_audit_refuses_an_acknowledgement_without_reason(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit, match="has no reason"):
        _run(tmp_path, capsys, monkeypatch, [VULNERABLE], ignores="GHSA-aaaa-bbbb-cccc\n")


def test_audit_names_stale_acknowledgements(tmp_path, capsys, monkeypatch):
    status, out = _run(tmp_path, capsys, monkeypatch, [AUDITED_CLEAN],
                       ignores="GHSA-0000-0000-0000  fixed long ago\n")
    assert status == 0
    assert "GHSA-0000-0000-0000" in out and "remove it" in out


def test_audit_fails_when_one_package_could_not_be_audited(tmp_path, capsys, monkeypatch):
    skipped = {"name": "redis", "skip_reason": "Dependency not found on PyPI"}
    status, out = _run(tmp_path, capsys, monkeypatch, [AUDITED_CLEAN, skipped])
    assert status == 1
    assert "redis" in out and "not audited" in out


@pytest.mark.parametrize("required, expected", [(False, 0), (True, 1)])
def test_audit_without_advisory_service_says_so(tmp_path, capsys, monkeypatch, required,
                                                 expected):
    skipped = [{"name": "flask", "skip_reason": "Dependency not found on PyPI"},
               {"name": "redis", "skip_reason": "Dependency not found on PyPI"}]
    status, out = _run(tmp_path, capsys, monkeypatch, skipped, required=required)
    assert status == expected
    assert "NOT AUDITED" in out
