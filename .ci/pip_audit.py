"""`make audit`: pip-audit on requirements.txt; fails on a known vulnerability not listed below.

A finding without a fix goes in IGNORED with the reason, and in docs/security.md ("Dependency
findings"). pip-audit needs PyPI's JSON API: without it (offline) the audit is reported as not
done, which does not fail the build; nor does a package PyPI cannot describe (listed as skipped).
"""

import json
import subprocess
import sys
from pathlib import Path

IGNORED: dict[str, str] = {}  # vulnerability id -> reason (mirror it in docs/security.md)

ROOT = Path(__file__).resolve().parent.parent
command = [
    str(ROOT / ".venv" / "bin" / "pip-audit"), "-r", str(ROOT / "requirements.txt"),
    # Every dependency is pinned in requirements.txt (transitive ones too): nothing to resolve.
    "--no-deps", "--disable-pip", "--progress-spinner", "off", "--format", "json",
]  # fmt: skip
result = subprocess.run(command, capture_output=True, text=True, timeout=600)
try:
    report = json.loads(result.stdout)
except ValueError:
    print("pip-audit could not run (no access to PyPI?); dependency audit NOT done:", file=sys.stderr)
    print(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output", file=sys.stderr)
    sys.exit(0)
found, skipped = [], []
for dependency in report["dependencies"]:
    if dependency.get("skip_reason"):
        skipped.append(dependency["name"])
    for vuln in dependency.get("vulns", []):
        if vuln["id"] not in IGNORED:
            found.append(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fix: {vuln['fix_versions']})")
if skipped:
    print(f"pip-audit: {len(skipped)} package(s) not audited (PyPI had no data): {', '.join(skipped)}")
for line in found:
    print(f"VULNERABLE {line}", file=sys.stderr)
print(f"pip-audit: {len(report['dependencies']) - len(skipped)} audited, {len(found)} unlisted finding(s)")
sys.exit(1 if found else 0)
