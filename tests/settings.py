"""The console's settings for the test run.

The suite runs in two processes (pytest-xdist, one per core). Each worker gets
what no other worker may touch: its own test database (pytest-django adds the
worker's name), its own `var/` folder (file cache, broker folder, mail, keys)
and its own Redis database (the cache and broker of the Celery tests). These
go into the environment before the settings are read, so the servers a test
starts (gunicorn, Celery workers) see the same ones.
"""

import os
import re
import sys
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
# A server a test starts inherits the environment already set for its worker.
if _worker and os.environ.get("RECOVERY_TEST_WORKER") != _worker:
    os.environ["RECOVERY_TEST_WORKER"] = _worker
    index = int(re.sub(r"\D", "", _worker) or 0)
    base = Path(__file__).resolve().parent.parent
    os.environ["VAR_DIR"] = str(Path(os.environ.get("VAR_DIR", base / "var")) / f"test-{_worker}")
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        # redis://host:port/15 -> /15 for gw0, /14 for gw1 ... (/0 counts up).
        match = re.match(r"^(.*/)(\d+)$", redis_url)
        if match:
            head, db = match.group(1), int(match.group(2))
        else:
            head, db = redis_url.rstrip("/") + "/", 0
        os.environ["REDIS_URL"] = f"{head}{db - index if db - index >= 0 else db + index}"

# A developer's own error reporter or trace collector never receives the suite's
# deliberate failures. Only in the test run itself: the tests that check them start
# processes of their own (with these settings) and set the variables for those.
if "pytest" in sys.modules:
    for _name in ("SENTRY_DSN", "OTEL_EXPORTER_OTLP_ENDPOINT",
                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        os.environ.pop(_name, None)

from recovery_console.settings import *  # noqa: E402,F403

if _worker and DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # The engine is the console's own SQLite backend, which pytest-django does
    # not recognise as SQLite: say outright that each worker's test database
    # lives in memory (pytest-django would otherwise suffix a file name).
    DATABASES["default"].setdefault("TEST", {})["NAME"] = ":memory:"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "audit.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.db_backend.postgresql"  # noqa: F405  # cheaper flush

# Tests create many accounts, some in fixtures shared by a module (set up
# before any per-test setting applies): a deliberately slow hash would dominate.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
