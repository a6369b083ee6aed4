"""The peer project's side of ``make bench``, run by the peer's own interpreter
(``var/bench-peer-venv/bin/python bench/peer/peer_tool.py PART [ARG...]``, settings
``helpdesk_site.settings``); prints one JSON object. It imports django-helpdesk, so it
never runs in the console's environment.

    load TICKETS     queues, staff, TICKETS tickets with about 3 follow-ups each (COPY),
                     then VACUUM ANALYZE
    requests FOLDER  a signed-in staff session and the request files of the pages:
                     the ticket list (HTML), the JSON call that fills it, ticket pages
    pages FOLDER     in process (Django test client): status, size, queries and time of
                     each page, and that it shows ticket data (not a sign-in page)
"""

from __future__ import annotations

import io
import json
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

import django

QUEUES = [("Accounts and access", "access"), ("Hardware", "hardware"),
          ("Network and VPN", "network"), ("Email and calendar", "email"),
          ("Software requests", "software"), ("Security incidents", "security")]
PROBLEMS = ["Cannot sign in to {s}", "Password reset for {s}", "Lost second-factor device "
            "for {s}", "Account locked in {s}", "{s} is very slow", "Access request: {s}",
            "Error 500 when opening {s}", "Cannot reach {s} from home", "{s} keeps asking "
            "for credentials", "New starter needs {s}", "Leaver: remove access to {s}",
            "Phishing email mentioning {s}"]
SYSTEMS = ["the VPN", "Outlook", "the HR portal", "SAP", "Jira", "Confluence", "the laptop",
           "Teams", "the expense tool", "GitHub", "the payroll system", "the wiki", "Slack",
           "the CRM", "the printer on floor 3", "Zoom"]
FIRST = ["anna", "ben", "carla", "david", "eva", "felix", "greta", "hugo", "ines", "jonas",
         "kim", "lena", "marc", "nina", "oscar", "paula", "quentin", "rita", "sven", "tara"]
LAST = ["meier", "schmidt", "novak", "rossi", "garcia", "smith", "dubois", "jensen",
        "kowalski", "silva", "müller", "andersen", "costa", "horvat", "virtanen", "ward"]
COMMENTS = ["I have asked the user to try again after clearing the browser cache.",
            "Reset done; the user confirmed they can sign in again.",
            "Waiting for the manager's approval before granting access.",
            "Escalated to the network team, VPN concentrator shows the session.",
            "Replaced the device and re-enrolled the second factor.",
            "Could not reproduce; asked for a screenshot of the error.",
            "Access granted as requested, ticket can be closed."]
OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5
STAFF_USERNAME = "bench-peer-staff"


def _statuses(rng: random.Random, age_days: float) -> int:
    """Recent tickets are still open; older ones were resolved or closed."""
    if age_days < 7:
        return rng.choices([OPEN, REOPENED, RESOLVED, CLOSED], [60, 5, 20, 15])[0]
    if age_days < 30:
        return rng.choices([OPEN, REOPENED, RESOLVED, CLOSED], [4, 1, 15, 80])[0]
    return rng.choices([CLOSED, RESOLVED, DUPLICATE], [93, 4, 3])[0]


def _copy(cursor, table: str, columns: list[str], rows: io.StringIO) -> None:
    rows.seek(0)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def _field(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", "\\n")


def _line(*values) -> str:
    return "\t".join(_field(v) for v in values) + "\n"


def load(tickets: int) -> dict:
    """Queues, staff (one per 2,000 tickets, at least 4, as the console's agents per
    identity), ``tickets`` tickets over two years with 2 to 4 follow-ups each
    (COPY), then VACUUM ANALYZE as the console's generator does."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from helpdesk.models import Queue

    rng = random.Random(9)  # noqa: S311 - generated data, not secrets
    started = time.monotonic()
    with transaction.atomic():
        queues = [Queue.objects.create(title=title, slug=slug, email_address=f"{slug}@example.org",
                                       allow_public_submission=False, allow_email_submission=False)
                  for title, slug in QUEUES]
        staff = [User.objects.create(username=f"agent{i:03d}", email=f"agent{i:03d}@example.org",
                                     first_name=FIRST[i % len(FIRST)].title(),
                                     last_name=LAST[i % len(LAST)].title(), is_staff=True)
                 for i in range(max(4, tickets // 2000))]
        User.objects.create(username=STAFF_USERNAME, email="bench@example.org", is_staff=True)
    now = datetime.now(UTC)
    ticket_rows, followup_rows = io.StringIO(), io.StringIO()
    followups = 0
    for pk in range(1, tickets + 1):
        # Older tickets first, so ids grow with time as they do in a real help desk.
        created = now - timedelta(days=730 * (1 - pk / tickets), minutes=rng.randrange(600))
        age = (now - created).total_seconds() / 86400
        status = _statuses(rng, age)
        assignee = rng.choice(staff) if status != OPEN or rng.random() < 0.6 else None
        person = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(100)}"
        title = rng.choice(PROBLEMS).format(s=rng.choice(SYSTEMS))
        title = title[0].upper() + title[1:]
        replies = rng.choice([1, 2, 2, 3])
        modified = created + timedelta(hours=rng.randrange(1, 72))
        modified = min(modified, now)
        ticket_rows.write(_line(
            pk, title, created, modified, f"{person}@example.org", status, False,
            f"Hello, {title.lower()}. It started this morning. Thanks, {person.split('.')[0]}",
            rng.choice(COMMENTS) if status in (RESOLVED, CLOSED) else None,
            rng.choices([1, 2, 3, 4, 5], [3, 12, 60, 20, 5])[0],
            created + timedelta(days=3) if rng.random() < 0.3 else None,
            None, assignee.pk if assignee else None, rng.choice(queues).pk,
            str(uuid.UUID(int=rng.getrandbits(128), version=4)), None, None))
        followup_rows.write(_line(created, "Ticket Opened", f"Submitted by {person}", True,
                                  None, pk, None))
        step = (modified - created) / (replies + 1)
        for reply in range(1, replies + 1):
            final = reply == replies and status in (RESOLVED, CLOSED, DUPLICATE)
            followup_rows.write(_line(
                created + step * reply, "Closed" if final else "Comment",
                rng.choice(COMMENTS), rng.random() < 0.7, status if final else None, pk,
                (assignee or rng.choice(staff)).pk))
        followups += replies + 1
    with connection.cursor() as cursor:
        _copy(cursor, "helpdesk_ticket",
              ["id", "title", "created", "modified", "submitter_email", "status", "on_hold",
               "description", "resolution", "priority", "due_date", "last_escalation",
               "assigned_to_id", "queue_id", "secret_key", "kbitem_id", "merged_to_id"],
              ticket_rows)
        _copy(cursor, "helpdesk_followup",
              ["date", "title", "comment", "public", "new_status", "ticket_id", "user_id"],
              followup_rows)
        cursor.execute("SELECT setval(pg_get_serial_sequence('helpdesk_ticket', 'id'), %s)",
                       [tickets])
    loaded = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"tickets": tickets, "followups": followups, "queues": len(queues),
            "staff": len(staff) + 1, "open": _open_count(),
            "load_seconds": round(loaded, 1),
            "vacuum_analyze_seconds": round(time.monotonic() - started - loaded, 1)}


def _open_count() -> int:
    from helpdesk.models import Ticket

    return Ticket.objects.filter(status__in=[OPEN, REOPENED]).count()


def signed_in_cookie() -> str:
    """A session of the staff user written straight to the session store (as a
    password sign-in leaves it), and a CSRF cookie."""
    from django.conf import settings
    from django.contrib.auth.models import User

    user = User.objects.get(username=STAFF_USERNAME)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}; csrftoken={'b' * 32}"


def list_json_path(html: str) -> str:
    """The JSON call the list page's table makes on load: the URL the page names,
    with the parameters DataTables sends for its first draw (25 rows, its initial
    order: the first column, the ticket id, ascending)."""
    found = re.search(r'"url": "(/datatables_ticket_list/[^"]+)"', html)
    assert found, "the ticket list page names no datatables_ticket_list URL"
    return (f"{found.group(1)}?draw=1&order%5B0%5D%5Bcolumn%5D=0&order%5B0%5D%5Bdir%5D=asc"
            "&start=0&length=25&search%5Bvalue%5D=&search%5Bregex%5D=false")


def _client(cookie: str):
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_COOKIE=cookie)


def requests(folder: str) -> dict:
    """Request files (METHOD<TAB>PATH<TAB>BODY, bench/wrk.lua) of the three peer pages
    and the Cookie header to send: the ticket list as a staff user opens it (its default
    query: open and reopened tickets), the JSON call that fills it, and the ticket page
    of 500 different closed tickets, newest first (as the console's case page)."""
    from helpdesk.models import Ticket

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    cookie = signed_in_cookie()
    html = _client(cookie).get("/tickets/", secure=True).content.decode()
    closed = list(Ticket.objects.filter(status=CLOSED).order_by("-id")
                  .values_list("pk", flat=True)[:500])
    pages = {"list_html": ["/tickets/"], "list_json": [list_json_path(html)],
             "ticket": [f"/tickets/{pk}/" for pk in closed]}
    specs = {}
    for page, paths in pages.items():
        path = out / f"peer_{page}.txt"
        path.write_text("".join(f"GET\t{p}\t\n" for p in paths))
        specs[page] = {"cookie": cookie, "file": str(path)}
    return specs


def check(page: str, path: str, status: int, body: bytes) -> None:
    """A measured response must be the page itself with ticket data in it, never a
    sign-in redirect or an error page."""
    from helpdesk.models import Ticket

    assert status == 200, (page, path, status)
    text = body.decode()
    if page == "list_html":
        assert "ticketTable" in text and "datatables_ticket_list" in text, (page, "no table")
        assert 'id="id_username"' not in text, (page, "a sign-in form")
    elif page == "list_json":
        data = json.loads(text)
        assert data["recordsTotal"] == _open_count() > 0, (page, data["recordsTotal"])
        assert len(data["data"]) == min(25, data["recordsTotal"]), (page, len(data["data"]))
        first = Ticket.objects.get(pk=data["data"][0]["id"])
        assert first.title and first.title in text, (page, "no ticket title")
    else:
        ticket = Ticket.objects.get(pk=int(path.strip("/").split("/")[-1]))
        assert ticket.title in text and ticket.submitter_email in text, (page, "no ticket data")


def pages(folder: str, runs: int = 20, budget_seconds: float = 60) -> dict:
    """Each page in process, through the Django test client: status and content
    checked (``check``), queries and time per request, response size; at most
    ``runs`` requests or ``budget_seconds`` per page (a page that takes minutes is
    reported with the requests it finished)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = {}
    for spec_file in sorted(Path(folder).glob("peer_*.txt")):
        page = spec_file.stem.removeprefix("peer_")
        paths = [line.split("\t")[1] for line in spec_file.read_text().splitlines()]
        cookie = json.loads((Path(folder) / "cookie.json").read_text())["cookie"]
        client = _client(cookie)
        times, queries, sizes = [], [], []
        started = time.monotonic()
        for i in range(runs + 1):
            path = paths[i % len(paths)]
            with CaptureQueriesContext(connection) as captured:
                begun = time.perf_counter()
                response = client.get(path, secure=True)
                elapsed = time.perf_counter() - begun
            check(page, path, response.status_code, response.content)
            if i:  # the first request warms the process
                times.append(elapsed)
                queries.append(len(captured.captured_queries))
                sizes.append(len(response.content))
            if time.monotonic() - started > budget_seconds:
                break
        result[page] = {"median_ms": round(statistics.median(times) * 1000, 1) if times else None,
                        "runs": len(times), "queries_min": min(queries, default=None),
                        "queries_max": max(queries, default=None),
                        "bytes_median": int(statistics.median(sizes)) if sizes else None}
    return result


def probe(folder: str, url: str) -> dict:
    """One request of each page through the running server (urllib, the cookie of
    the request files): checked as in process, so wrk measures real pages."""
    import urllib.request

    cookie = json.loads((Path(folder) / "cookie.json").read_text())["cookie"]
    sizes = {}
    for spec_file in sorted(Path(folder).glob("peer_*.txt")):
        page = spec_file.stem.removeprefix("peer_")
        path = spec_file.read_text().splitlines()[0].split("\t")[1]
        request = urllib.request.Request(  # noqa: S310 - loopback, our own server
            url + path, headers={"Cookie": cookie, "X-Forwarded-Proto": "https"})
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310  # nosec
            body = response.read()
            check(page, path, response.status, body)
        sizes[page] = len(body)
    return sizes


def main(argv: list[str]) -> dict:
    part, *args = argv
    if part == "load":
        return load(int(args[0]))
    if part == "requests":
        specs = requests(args[0])
        (Path(args[0]) / "cookie.json").write_text(
            json.dumps({"cookie": specs["ticket"]["cookie"]}))
        return specs
    if part == "pages":
        return pages(args[0])
    if part == "probe":
        return probe(args[0], args[1])
    raise SystemExit(f"unknown part {part}")


if __name__ == "__main__":
    django.setup()
    print(json.dumps(main(sys.argv[1:])))
