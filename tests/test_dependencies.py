"""The locked dependencies: the lock files agree with pyproject.toml, and `make audit`
fails on a known vulnerability in a locked version.

The audit runs the real pip-audit against the real lock files; the advisory source is
a local server answering as the OSV API documents (POST /v1/query with a package and a
version; ``{}`` when nothing is known, else ``{"vulns": [...]}`` in the OSV schema)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{name: (version, [hashes])} from a pip-compile lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonical(match.group(1))
            entries[current] = (match.group(2).rstrip("\\").strip(), [])
        elif current and "--hash=sha256:" in line:
            entries[current][1].append(line.split("--hash=sha256:")[1].split()[0])
    return entries


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        found[canonical(name.split("[")[0])] = version
    return found


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_direct_dependency_is_locked_at_its_pin(project):
    runtime, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    for name, version in pins(project["dependencies"]).items():
        assert runtime.get(name, ("missing",))[0] == version, f"{name} in requirements.lock"
        assert dev.get(name, ("missing",))[0] == version, f"{name} in requirements-dev.lock"
    for name, version in pins(project["optional-dependencies"]["dev"]).items():
        assert dev.get(name, ("missing",))[0] == version, f"{name} in requirements-dev.lock"


def test_every_locked_dependency_has_hashes_and_the_two_locks_agree():
    runtime, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert len(runtime) > 40  # the transitive closure, not only what pyproject names
    for name, (_version, hashes) in dev.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    for name, (version, hashes) in runtime.items():
        assert dev[name][0] == version, f"{name}: {version} vs {dev[name][0]}"
        assert set(hashes) <= set(dev[name][1])


def test_the_virtual_environment_holds_what_the_lock_names():
    """`make` installed this environment from requirements-dev.lock."""
    from importlib.metadata import distributions

    installed = {canonical(d.metadata["Name"]): d.version for d in distributions()}
    for name, (version, _hashes) in locked(ROOT / "requirements-dev.lock").items():
        assert installed.get(name) == version, f"{name}: locked {version}, {installed.get(name)}"


class OsvApi(BaseHTTPRequestHandler):
    """POST /v1/query as https://google.github.io/osv.dev/post-v1-query/ documents."""

    advisories: dict[tuple[str, str], list[dict]] = {}
    queries: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        if self.path != "/v1/query":
            self.send_error(404)
            return
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).queries.append(query)
        key = (query["package"]["name"], query["version"])
        vulns = self.advisories.get(key) if query["package"]["ecosystem"] == "PyPI" else None
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def osv(tmp_path):
    OsvApi.advisories, OsvApi.queries = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), OsvApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield OsvApi, f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    server.shutdown()
    server.server_close()


def audit(url: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_dependencies.py"),
         str(ROOT / "requirements.lock"), str(ROOT / "requirements-dev.lock")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
        env={**os.environ, "AUDIT_SERVICE": "osv", "AUDIT_OSV_URL": url,
             "AUDIT_CACHE_DIR": str(tmp_path / "cache"), **env})


def test_audit_passes_when_no_locked_version_has_an_advisory(osv, tmp_path):
    api, url = osv
    run = audit(url, tmp_path)
    dev = locked(ROOT / "requirements-dev.lock")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(dev)} locked dependencies, {len(dev)} audited, 0 not answered for, " \
           "0 with known vulnerabilities" in run.stdout
    asked = {(q["package"]["name"], q["version"]) for q in api.queries}
    assert asked == {(name, version) for name, (version, _) in dev.items()}


def test_audit_fails_naming_the_vulnerable_locked_version_and_its_fix(osv, tmp_path):
    api, url = osv
    version = locked(ROOT / "requirements.lock")["sqlparse"][0]
    api.advisories[("sqlparse", version)] = [{
        "schema_version": "1.6.0", "id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"],
        "summary": "Denial of service when formatting deeply nested SQL",
        "published": "2099-01-01T00:00:00Z", "modified": "2099-01-01T00:00:00Z",
        "affected": [{"package": {"name": "sqlparse", "ecosystem": "PyPI"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "99.0"}]}]}],
    }]
    run = audit(url, tmp_path)
    assert run.returncode == 1
    assert f"VULNERABLE sqlparse {version}: PYSEC-2099-1, CVE-2099-0001 (fixed in 99.0)" \
        in run.stdout


def test_audit_fails_when_the_advisory_source_cannot_be_reached(tmp_path):
    run = audit("http://127.0.0.1:9/v1/query", tmp_path)  # discard port: nothing listens
    assert run.returncode == 2
    assert "pip-audit failed" in run.stderr


def test_audit_on_a_lock_without_hashes_fails(osv, tmp_path):
    import os

    api, url = osv
    unhashed = tmp_path / "unhashed.lock"
    unhashed.write_text("sqlparse==0.5.0\n")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_dependencies.py"), str(unhashed)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        env={**os.environ, "AUDIT_SERVICE": "osv", "AUDIT_OSV_URL": url,
             "AUDIT_CACHE_DIR": str(tmp_path / "cache")})
    assert run.returncode == 2
    assert api.queries == []
