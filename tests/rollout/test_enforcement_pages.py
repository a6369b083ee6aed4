"""What a wave's page shows of enforcement (its report-only and pause
partials, rendered as the wave page includes them), and the full list of a
wave's would-be refusals, page by page and as CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from accounts.roles import roles_of
from recovery_console import clock
from recovery_console.rollout.models import WouldRefuse
from tests.factories import IdentityFactory, staff
from tests.sessions import sign_in_client

from .support import wave_for

pytestmark = pytest.mark.django_db


def recorded(wave, count: int, *, name: str = "Person"):
    start = clock.now() - timedelta(hours=count)
    people = [IdentityFactory(display_name=f"{name} {n:02d}") for n in range(count)]
    WouldRefuse.objects.bulk_create(
        WouldRefuse(wave=wave, identity=who, at=start + timedelta(hours=n), why="no_passkey")
        for n, who in enumerate(people))
    return people


def partial(name: str, wave, viewer, **context) -> str:
    """The partial as the wave's page includes it (``wave`` and the request)."""
    request = RequestFactory().get(f"/rollout/waves/{wave.pk}/")
    request.user = viewer
    return render_to_string(f"rollout/{name}", {"wave": wave, **context}, request=request)


def test_the_report_only_partial_counts_and_lists_the_latest_twenty(
        django_assert_max_num_queries):
    wave = wave_for("Finance", "report_only")
    people = recorded(wave, 25)
    other = wave_for("Sales", "report_only")
    recorded(other, 3, name="Elsewhere")
    admin = staff("security_admin")
    roles_of(admin)  # the page's nav has read them already
    with django_assert_max_num_queries(2):
        html = partial("_wave_report_only.html", wave, admin)
    assert "25 sign-ins would have been refused; the latest 20" in html
    assert people[-1].display_name in html and people[5].display_name in html
    assert people[4].display_name not in html  # the 21st newest
    assert "Elsewhere" not in html
    assert reverse("enforcement:would_refuse", args=[wave.pk]) in html
    assert reverse("enforcement:would_refuse_csv", args=[wave.pk]) in html
    assert "Signed in without a passkey" in html


def test_the_report_only_partial_says_when_nothing_is_recorded_yet():
    wave = wave_for("Finance", "invite")
    html = partial("_wave_report_only.html", wave, staff("security_admin"))
    assert "None recorded yet: the wave records them from its report-only stage on" in html


def test_the_pause_partial_offers_the_resume_to_security_admins_only():
    wave = wave_for("Finance", "enforce", paused_at=clock.now(),
                    paused_reason="5 recovery cases opened by the wave's members in the last "
                                  "24 hours, past the plan's daily limit of 4.")
    admin_view = partial("_wave_pause.html", wave, staff("security_admin"))
    assert "Paused" in admin_view and "daily limit of 4" in admin_view
    assert "Resume the wave" in admin_view and 'name="note"' in admin_view
    assert reverse("enforcement:wave_pause", args=[wave.pk]) in admin_view
    assert 'name="next" value="/rollout/waves/' in admin_view

    auditor_view = partial("_wave_pause.html", wave, staff("auditor"))
    assert "daily limit of 4" in auditor_view
    assert "Resume the wave" not in auditor_view and "A security admin resumes it" in auditor_view


def test_the_pause_partial_of_a_running_wave_names_its_limit():
    wave = wave_for("Finance", "invite", limit=7)
    html = partial("_wave_pause.html", wave, staff("security_admin"))
    assert "Not paused" in html and "more than 7 recovery cases in 24 hours" in html
    assert "Resume the wave" not in html


@pytest.mark.parametrize("role", ["security_admin", "auditor"])
def test_security_admins_and_auditors_page_through_every_would_be_refusal(
        client, role, django_assert_max_num_queries):
    wave = wave_for("Finance", "report_only")
    people = recorded(wave, 60)
    sign_in_client(client, staff(role))
    url = reverse("enforcement:would_refuse", args=[wave.pk])
    # The session, the viewer and their roles, the nav's counts (a security
    # admin's open alerts and cases), then the wave, a count and one page.
    with django_assert_max_num_queries(14):
        first = client.get(url)
    assert first.status_code == 200
    html = first.content.decode()
    assert "60 sign-ins, 1–50 shown" in html and people[-1].display_name in html
    assert people[9].display_name not in html
    second = client.get(url, {"page": 2}).content.decode()
    assert people[9].display_name in second and people[10].display_name not in second


def test_the_csv_holds_every_would_be_refusal_in_utc_and_is_spreadsheet_safe(client):
    wave = wave_for("Finance", "report_only")
    recorded(wave, 3)
    recorded(wave, 1, name="=HYPERLINK(1)")
    sign_in_client(client, staff("auditor"))
    response = client.get(reverse("enforcement:would_refuse_csv", args=[wave.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "directory_id", "name", "why"]
    assert len(rows) == 5
    assert all(row[0].endswith("+00:00") for row in rows[1:])
    assert any(row[2] == "'=HYPERLINK(1) 00" for row in rows[1:])
    assert {row[3] for row in rows[1:]} == {"Signed in without a passkey"}


def test_agents_and_people_may_not_read_a_wave_s_refusals(client):
    wave = wave_for("Finance", "report_only")
    sign_in_client(client, staff("agent"))
    for name in ("would_refuse", "would_refuse_csv", "wave_pause"):
        assert client.get(reverse(f"enforcement:{name}", args=[wave.pk])).status_code == 403
