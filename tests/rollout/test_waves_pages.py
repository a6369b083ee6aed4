"""The security admins' rollout pages: cohorts previewed before they are
saved, plans and their waves, the wave page, each in a constant number of
queries however many members the cohorts have."""

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Identity
from recovery_console.rollout.models import Cohort, RolloutPlan, Wave, WaveException
from tests.factories import staff
from tests.sessions import sign_in_client

from .waves_support import GROUP, admin_client, person, wave

pytestmark = pytest.mark.django_db

COHORT = {"name": "Finance", "description": "", "directory_group": GROUP.upper(), "kind": "",
          "department": "", "base_tier": "", "privileged": ""}


def events(name: str):
    return LogEntry.objects.filter(additional_data__event=name)


def test_previewing_a_cohort_shows_its_members_and_saves_nothing():
    people = [person(display_name=f"Member {n}") for n in range(7)]
    person(group="Sales")
    client = admin_client()
    before = LogEntry.objects.count()

    response = client.post(reverse("rollout:cohort_new"), {**COHORT, "preview": "1"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Preview: 7 members" in page
    assert "Member 0" in page and people[0].directory_id in page
    assert Cohort.objects.count() == 0 and LogEntry.objects.count() == before


def test_previewing_an_edit_shows_the_new_rule_and_leaves_the_cohort_as_it_was():
    person()
    cohort = Cohort.objects.create(name="Finance", directory_group="Nobody's group")
    response = admin_client().post(reverse("rollout:cohort_edit", args=[cohort.pk]),
                                   {**COHORT, "preview": "1"})
    assert "Preview: 1 member" in response.content.decode()
    cohort.refresh_from_db()
    assert cohort.directory_group == "Nobody's group"


def test_saving_a_cohort_is_audited_with_the_security_admin():
    admin = staff("security_admin", username="sec-admin")
    client = admin_client(admin)
    response = client.post(reverse("rollout:cohort_new"), {**COHORT, "save": "1"})
    assert response.status_code == 302
    cohort = Cohort.objects.get()
    assert (cohort.directory_group_key, cohort.created_by) == (GROUP.lower(), admin)
    client.post(reverse("rollout:cohort_edit", args=[cohort.pk]),
                {**COHORT, "department": "Treasury"})
    assert events("rollout_cohort_created").get().actor == admin
    changed = events("rollout_cohort_changed").get()
    assert changed.additional_data["changed"] == {"department": ["", "Treasury"]}


def test_a_cohort_form_shows_errors_under_its_fields():
    Cohort.objects.create(name="Finance")
    response = admin_client().post(reverse("rollout:cohort_new"), {**COHORT, "save": "1"})
    assert response.status_code == 400
    assert 'id="id_name_error"' in response.content.decode()


def test_a_plan_is_created_given_waves_and_put_in_order():
    first = Cohort.objects.create(name="IT", directory_group="IT")
    second = Cohort.objects.create(name="Finance", directory_group="Finance")
    client = admin_client()
    response = client.post(reverse("rollout:plan_new"), {
        "name": "Passkeys 2027", "description": "", "passkey_share_required": 90,
        "channel_share_required": 95, "snooze_limit": 2, "daily_case_limit": 20,
        "report_only_period_days": 7, "invite_period_days": 14, "reminder_interval_days": 3,
        "snooze_period_days": 3})
    plan = RolloutPlan.objects.get()
    assert response.url == reverse("rollout:plan", args=[plan.pk])
    assert plan.report_only_period.days == 7
    for cohort in (first, second):
        client.post(reverse("rollout:wave_add", args=[plan.pk]), {"cohort": cohort.pk})
    again = client.post(reverse("rollout:wave_add", args=[plan.pk]), {"cohort": first.pk})
    assert again.status_code == 400  # a cohort is one wave of a plan at most
    assert [w.cohort.name for w in plan.waves.order_by("position")] == ["IT", "Finance"]

    later = plan.waves.get(cohort=first)
    client.post(reverse("rollout:wave_order", args=[plan.pk]),
                {"wave": later.pk, "direction": "later"})

    assert [w.cohort.name for w in plan.waves.order_by("position")] == ["Finance", "IT"]
    assert events("rollout_waves_reordered").count() == 1
    page = client.get(reverse("rollout:plan", args=[plan.pk])).content.decode()
    assert "Finance" in page and "Pilot" in page


def test_the_pilot_sample_is_chosen_among_the_cohorts_members_only():
    pilot = wave()
    member, outsider = person(), person(group="Sales")
    client = admin_client()
    url = reverse("rollout:wave_pilot", args=[pilot.pk])

    refused = client.post(url, {"people": f"{member.directory_id}\n{outsider.directory_id}"})
    assert refused.status_code == 400
    assert 'id="id_people_error"' in refused.content.decode()
    assert client.post(url, {"people": member.directory_id}).status_code == 302
    assert list(pilot.pilot_members.all()) == [member]

    pilot.stage = Wave.Stage.INVITE
    pilot.save()
    assert client.post(url, {"people": ""}).status_code == 409  # past its pilot
    assert list(pilot.pilot_members.all()) == [member]


def test_the_rollout_link_is_in_the_nav_of_security_admins_only():
    admin_page = admin_client().get(reverse("recovery:alerts")).content.decode()
    assert f'href="{reverse("rollout:plans")}"' in admin_page
    supervisor = sign_in_client(Client(), staff("supervisor"))
    assert reverse("rollout:plans") not in supervisor.get(reverse("recovery:approvals")) \
        .content.decode()


def _queries(client, url: str) -> int:
    client.get(url)  # the session's first reads are not the page's
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def _grow(count: int) -> None:
    for n in range(count):
        person(passkey=n % 2 == 0, channel=n % 3 == 0, privileged=n % 5 == 0)


def test_list_pages_and_the_wave_page_read_the_same_number_of_queries_as_members_grow(
        django_assert_max_num_queries):
    shown = wave(Wave.Stage.REPORT_ONLY)
    Cohort.objects.create(name="Sales", directory_group="Sales")
    client = admin_client()
    _grow(3)
    shown.pilot_members.set(Identity.objects.all()[:2])
    owner = staff("security_admin")
    WaveException.objects.create(wave=shown, identity=person(passkey=False), stage="enforce",
                                 owner=owner, reason="Travelling",
                                 expires_at=shown.stage_since.replace(year=2099),
                                 created_by=owner)
    urls = [reverse("rollout:plans"), reverse("rollout:cohorts"),
            reverse("rollout:plan", args=[shown.plan_id]),
            reverse("rollout:wave", args=[shown.pk])]
    small = {url: _queries(client, url) for url in urls}
    _grow(60)
    shown.pilot_members.set(Identity.objects.all()[:40])
    large = {url: _queries(client, url) for url in urls}
    assert large == small
    # Its own reads, and the partials: invitations, report-only, pause, readiness.
    with django_assert_max_num_queries(21):
        client.get(reverse("rollout:wave", args=[shown.pk]))
