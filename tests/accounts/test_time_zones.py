"""Every time on a page shows in the viewer's zone (their preference, else
the zone their browser reported, else UTC), labelled with it, inside a
``<time>`` whose ``datetime`` is the instant in UTC; CSV exports stay in UTC."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import dateformat
from hypothesis import given
from hypothesis import strategies as st

from audit.sampling import SampleRequest, draw_sample
from recovery_console.models import RecoveryCase
from recovery_console.templatetags import times
from tests.factories import recovery_case, staff
from tests.sessions import passkey_for, sign_in_client

pytestmark = pytest.mark.django_db

OPENED = datetime(2026, 11, 29, 13, 5, 7, tzinfo=UTC)
OPENED_ATTRIBUTE = 'datetime="2026-11-29T13:05:07Z"'


def case_opened_at(moment: datetime, agent) -> RecoveryCase:
    case = recovery_case("low", agent=agent)
    RecoveryCase.objects.filter(pk=case.pk).update(opened_at=moment)
    case.refresh_from_db()
    return case


def opened_on_case_page(client, case) -> str:
    """The text of the case's "Opened" time, checking its datetime attribute."""
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    found = re.search(r'<dt>Opened</dt><dd><time datetime="([^"]+)">([^<]+)</time>', page)
    assert found, page
    assert found.group(1) == case.opened_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return found.group(2)


@pytest.fixture
def agent(client):
    user = staff("agent")
    sign_in_client(client, user)
    return user


@pytest.mark.parametrize(("zone", "moment", "shown"), [
    ("Europe/Paris", OPENED, "29 Nov 2026, 14:05 CET"),
    ("Europe/Paris", datetime(2026, 7, 1, 13, 5, tzinfo=UTC), "1 Jul 2026, 15:05 CEST"),
    ("America/New_York", OPENED, "29 Nov 2026, 08:05 EST"),
    ("Asia/Kathmandu", OPENED, "29 Nov 2026, 18:50 UTC+05:45"),
    ("America/St_Johns", OPENED, "29 Nov 2026, 09:35 NST"),
    ("Pacific/Kiritimati", OPENED, "30 Nov 2026, 03:05 UTC+14:00"),
    ("UTC", OPENED, "29 Nov 2026, 13:05 UTC"),
])
def test_a_staff_member_with_a_preference_sees_a_cases_times_in_that_zone(client, agent, zone,
                                                                         moment, shown):
    agent.time_zone = zone
    agent.save()
    case = case_opened_at(moment, agent)
    assert opened_on_case_page(client, case) == shown


def test_every_time_on_the_case_page_is_labelled_and_carries_its_utc_instant(client, agent):
    agent.time_zone = "Europe/Paris"
    agent.save()
    case = case_opened_at(OPENED, agent)
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert f"<time {OPENED_ATTRIBUTE}>29 Nov 2026, 14:05 CET</time>" in page
    deadline = case.deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'<time datetime="{deadline}">' in page
    for time_element in re.findall(r"<time datetime=\"[^\"]+\"(?: title=\"[^\"]+\")?>[^<]+<",
                                   page):
        assert re.search(r'datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', time_element)
    shown_times = re.findall(r"\b\d\d:\d\d(?::\d\d)? ([A-Z][A-Za-z0-9+:-]*)", page)
    # Channels confirmed months ago were confirmed in summer time.
    assert shown_times and set(shown_times) <= {"CET", "CEST"}


def test_the_queue_shows_deadlines_in_the_viewers_zone(client, agent):
    agent.time_zone = "America/New_York"
    agent.save()
    case = case_opened_at(OPENED, agent)
    page = client.get(reverse("recovery:queue")).content.decode()
    local = case.deadline.astimezone(UTC)
    assert f'<time datetime="{local.strftime("%Y-%m-%dT%H:%M:%SZ")}">' in page
    assert " EST</time>" in page and " UTC</time>" not in page


def test_without_a_preference_the_zone_the_browser_reported_is_used(client, agent):
    case = case_opened_at(OPENED, agent)
    client.cookies["tz"] = "America%2FNew_York"  # as static/js/timezone.js writes it
    assert opened_on_case_page(client, case) == "29 Nov 2026, 08:05 EST"
    page = client.get(reverse("recovery:queue")).content.decode()
    assert "Times in America/New_York" in page


def test_a_preference_wins_over_the_browsers_zone(client, agent):
    agent.time_zone = "Asia/Tokyo"
    agent.save()
    case = case_opened_at(OPENED, agent)
    client.cookies["tz"] = "America%2FNew_York"
    assert opened_on_case_page(client, case) == "29 Nov 2026, 22:05 JST"


def test_without_a_preference_or_a_reported_zone_times_are_utc_and_say_so(client, agent):
    case = case_opened_at(OPENED, agent)
    assert opened_on_case_page(client, case) == "29 Nov 2026, 13:05 UTC"


@pytest.mark.parametrize("cookie", [
    "Mars%2FOlympus", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fusr%2Fshare%2Fzoneinfo%2FEurope%2FParis",
    "Europe%2FParis%00", "Europe%2FParis%E2%80%A8", "europe%2Fparis", "x" * 3000, "%ZZ", "",
])
def test_a_bogus_zone_from_the_browser_is_ignored_for_utc(client, agent, cookie):
    case = case_opened_at(OPENED, agent)
    client.cookies["tz"] = cookie
    assert opened_on_case_page(client, case) == "29 Nov 2026, 13:05 UTC"


def test_a_staff_member_chooses_their_zone_on_their_page(client, agent):
    case = case_opened_at(OPENED, agent)
    page = client.get(reverse("recovery:queue")).content.decode()
    assert f'href="{reverse("accounts:time_zone")}">Times in UTC</a>' in page
    response = client.post(reverse("accounts:time_zone"), {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.time_zone == "Asia/Tokyo"
    assert opened_on_case_page(client, case) == "29 Nov 2026, 22:05 JST"
    form = client.get(reverse("accounts:time_zone")).content.decode()
    assert '<option value="Asia/Tokyo" selected>' in form


def test_clearing_the_preference_goes_back_to_the_browsers_zone(client, agent):
    agent.time_zone = "Asia/Tokyo"
    agent.save()
    case = case_opened_at(OPENED, agent)
    client.cookies["tz"] = "Europe%2FParis"
    assert client.post(reverse("accounts:time_zone"), {"time_zone": ""}).status_code == 302
    agent.refresh_from_db()
    assert agent.time_zone == ""
    assert opened_on_case_page(client, case) == "29 Nov 2026, 14:05 CET"


@pytest.mark.parametrize("bogus", ["Mars/Olympus", "../../etc/passwd", "Europe/Paris\n",
                                   "Europe/Paris\u2028", "europe/paris", "x" * 300])
def test_an_unknown_zone_is_refused_with_a_clear_error_and_nothing_changes(client, agent,
                                                                          bogus):
    agent.time_zone = "Europe/Paris"
    agent.save()
    entries = LogEntry.objects.count()
    response = client.post(reverse("accounts:time_zone"), {"time_zone": bogus})
    assert response.status_code == 400
    assert "Choose a time zone from the list (for example Europe/Paris)." in \
        response.content.decode()
    agent.refresh_from_db()
    assert agent.time_zone == "Europe/Paris"
    assert LogEntry.objects.count() == entries


def test_the_time_zone_page_is_for_staff_only(client):
    assert client.get(reverse("accounts:time_zone")).status_code == 302  # to sign in
    case = recovery_case("low")
    passkey, _authenticator = passkey_for(case.identity.user)
    sign_in_client(client, case.identity.user, device=passkey)
    assert client.post(reverse("accounts:time_zone"),
                       {"time_zone": "Asia/Tokyo"}).status_code == 403
    case.identity.user.refresh_from_db()
    assert case.identity.user.time_zone == ""


def test_the_csv_export_stays_in_utc_whatever_zone_the_auditors_pages_use(client):
    auditor = staff("auditor", time_zone="Pacific/Auckland")
    sign_in_client(client, auditor)
    case = case_opened_at(OPENED, staff("agent"))
    report = draw_sample(auditor, SampleRequest(
        title="Q4", period_start=OPENED.date(), period_end=OPENED.date(), sample_size=1,
        seed=1, include_open=True))
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "(times in UTC, ISO 8601)" in page
    assert re.search(r"<time datetime=\"[^\"]+Z\">[^<]+ NZDT</time>", page)
    response = client.get(reverse("audit:report_csv", args=[report.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["position", "case", "opened_at"]
    assert rows[1][1] == str(case.pk)
    assert rows[1][2] == "2026-11-29T13:05:07+00:00"
    assert datetime.fromisoformat(rows[1][2]) == OPENED


def test_no_template_formats_a_time_without_the_viewers_zone():
    """Times reach pages only through ``when`` or ``ago``: Django's own date
    filters would show them unlabelled."""
    unlabelled = re.compile(r"\|\s*(date|time|timesince|timeuntil|naturaltime|naturalday)\b"
                            r"|\{%\s*now\b")
    offenders = [
        f"{path}:{number}" for path in Path(settings.BASE_DIR, "templates").rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if unlabelled.search(line)]
    assert offenders == []


def test_the_enrolment_page_shows_when_the_session_ends_in_the_browsers_zone():
    """A public page: the person recovering has no preference, their browser's zone counts."""
    from recovery_console import workflow
    from recovery_console.models import RecoverySession
    from tests.recovery.support import approved, redeeming

    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    subject = Client()
    subject.cookies["tz"] = "Asia%2FKolkata"
    subject.post(reverse("recovery:redeem", args=[issued.credential.handle]),
                 redeeming(issued.code))
    page = subject.get(reverse("recovery:enrol")).content.decode()
    ends = RecoverySession.objects.get(case=case).expires_at.astimezone(UTC)
    in_kolkata = ends + timedelta(hours=5, minutes=30)
    assert (f'<time datetime="{ends.strftime("%Y-%m-%dT%H:%M:%SZ")}">'
            f'{in_kolkata.strftime("%H:%M")} IST</time>') in page


@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30),
                           timezones=st.just(UTC)),
       fmt=st.sampled_from(["j M Y, H:i", "j M, H:i", "j M, H:i:s", "j M Y", "H:i", "H:i:s",
                            "j M Y, H:i:s", "D j N Y", "\\a\\t H:i", "Y-m-d"]))
def test_times_read_as_djangos_date_format_writes_them(moment, fmt):
    # The console's own formatter (the formats its pages use) and dateformat
    # for any other: the same text.
    assert times._formatter(fmt)(moment) == dateformat.format(moment, fmt)
