"""Read pip-audit's JSON report (bin/audit) and decide: exit 1 on a known vulnerability that the
ignore list does not acknowledge, or on a package that could not be audited.

Ignore list: one advisory per line, ``ID  reason``; the ID may be the advisory's own (PYSEC-...,
GHSA-...) or any alias (CVE-...). A line without a reason is an error, and an entry that no
longer matches anything is reported so that it can be removed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def read_ignores(path: Path) -> dict[str, str]:
    ignores: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        advisory, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{path}:{number}: {advisory} has no reason; say why it does not apply")
        ignores[advisory.strip()] = reason.strip()
    return ignores


def main(report_path: str, ignore_path: str) -> int:
    ignores = read_ignores(Path(ignore_path))
    try:
        dependencies = json.loads(Path(report_path).read_text() or "{}").get("dependencies", [])
    except json.JSONDecodeError:
        dependencies = []
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]

    if not audited:
        print("pip-audit: NOT AUDITED - the advisory service answered for no package "
              "(no network to it, or pip-audit failed)")
        for dep in skipped[:3]:
            print(f"  {dep['name']}: {dep['skip_reason']}")
        return 1 if os.environ.get("GOTRUE_WEB_AUDIT_REQUIRED") == "1" else 0

    failures, used = [], set()
    for dep in audited:
        for vuln in dep.get("vulns", []):
            names = {vuln["id"], *vuln.get("aliases", [])}
            acknowledged = sorted(names & ignores.keys())
            label = f"{dep['name']} {dep['version']}: {vuln['id']}"
            if acknowledged:
                used.update(acknowledged)
                print(f"pip-audit: ignored {label} ({ignores[acknowledged[0]]})")
                continue
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
            failures.append(f"{label} (fixed in: {fixed})")
    for dep in skipped:
        failures.append(f"{dep['name']} {dep.get('version', '')}: not audited "
                        f"({dep['skip_reason']})")
    for advisory in sorted(ignores.keys() - used):
        print(f"pip-audit: {advisory} is in {ignore_path} but matches nothing; remove it")

    if failures:
        print("pip-audit: known vulnerabilities in the locked dependencies:")
        for line in failures:
            print(f"  {line}")
        print("Raise the bound in pyproject.toml and run bin/lock (or bin/lock --upgrade-package "
              f"NAME); if an advisory does not apply, add it to {ignore_path} with the reason.")
        return 1
    print(f"pip-audit: {len(audited)} locked packages, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
