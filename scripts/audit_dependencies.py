"""Audit the locked dependencies with pip-audit (``make audit``, run by CI).

    python scripts/audit_dependencies.py requirements.lock requirements-dev.lock

pip-audit reads each lock file as it is (``--disable-pip --require-hashes``: nothing is
resolved or installed) and asks the advisory source about every pinned version. This
wrapper reads pip-audit's JSON report, because its own exit status does not tell an
audited dependency from one the source could not answer for:

- any known vulnerability fails (exit 1), with its ids and the versions that fix it;
- a dependency the source could not answer for is listed by name with the reason. It
  fails only with ``AUDIT_REQUIRE_COMPLETE=1``: a package index that serves no advisory
  data (a private mirror) would otherwise fail every run for a reason no change can fix;
- pip-audit itself failing (an unreachable source, a lock without hashes) fails (exit 2).

The source is ``AUDIT_SERVICE`` (``pypi``, PyPI's JSON API, by default; or ``osv``), and
``AUDIT_OSV_URL`` points the OSV service at an organisation's own mirror of the OSV API.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def pip_audit(lock_files: list[str], report: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("pip-audit")), "--disable-pip",
               "--require-hashes", "--progress-spinner", "off", "--format", "json",
               "--output", str(report),
               "--vulnerability-service", os.environ.get("AUDIT_SERVICE", "pypi")]
    if os.environ.get("AUDIT_OSV_URL"):
        command += ["--osv-url", os.environ["AUDIT_OSV_URL"]]
    if os.environ.get("AUDIT_CACHE_DIR"):
        command += ["--cache-dir", os.environ["AUDIT_CACHE_DIR"]]
    for lock in lock_files:
        command += ["-r", lock]
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603


def main(lock_files: list[str]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        run = pip_audit(lock_files, report)
        if not report.exists() or not report.read_text():
            print(f"audit: pip-audit failed (exit {run.returncode}):", file=sys.stderr)
            print(run.stderr.strip() or run.stdout.strip(), file=sys.stderr)
            return 2
        result = json.loads(report.read_text())

    dependencies = result["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    print(f"audit: {len(dependencies)} locked dependencies, {audited} audited, "
          f"{len(skipped)} not answered for, {len(vulnerable)} with known vulnerabilities "
          f"(source: {os.environ.get('AUDIT_SERVICE', 'pypi')})")
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            ids = ", ".join([vuln["id"], *vuln.get("aliases", [])])
            print(f"  VULNERABLE {dependency['name']} {dependency['version']}: {ids} "
                  f"(fixed in {fixed})")
    reasons: dict[str, list[str]] = defaultdict(list)
    for dependency in skipped:
        reason = dependency["skip_reason"].split(":", 1)[0]
        reasons[reason].append(dependency["name"])
    for reason, names in reasons.items():
        print(f"  not audited ({reason}): {', '.join(sorted(names))}")
    if vulnerable:
        return 1
    if skipped and os.environ.get("AUDIT_REQUIRE_COMPLETE") == "1":
        print("audit: AUDIT_REQUIRE_COMPLETE=1 and some dependencies were not audited")
        return 1
    if skipped:
        print("audit: WARNING: the advisory source did not answer for the dependencies above; "
              "they are NOT audited (AUDIT_SERVICE, AUDIT_OSV_URL).")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
