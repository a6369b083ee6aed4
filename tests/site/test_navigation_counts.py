"""Counts in the navigation: supervisors see how many cases wait for their
decision, security admins how many alerts are open. One query per count,
for those who hold the role only; nobody else pays for them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recovery_console import workflow
from recovery_console.models import Alert
from tests.factories import recovery_case, staff
from tests.recovery.support import verify
from tests.sessions import sign_in_client

from .markup import parse

pytestmark = pytest.mark.django_db


def awaiting_approval(count: int) -> list:
    cases = []
    for _ in range(count):
        agent = staff("agent")
        case = verify(recovery_case("high", agent=agent), agent)
        workflow.request_approval(case, agent)
        cases.append(case)
    return cases


def open_alerts(count: int, acknowledged: int = 0) -> None:
    case = recovery_case("low")
    for i in range(count + acknowledged):
        Alert.objects.create(identity=case.identity, case=case, kind="new_network",
                             detail="Redeemed from an address not seen before.",
                             **({"acknowledged_at": timezone.now()} if i >= count else {}))


def nav_link(client, label: str) -> str | None:
    page = parse(client.get(reverse("accounts:passkeys")).content.decode())
    nav = page.find_all("nav", aria_label="Main")[0]
    # The name a screen reader reads: the label when the link has one, else its text.
    texts = [a.get("aria-label") or a.text() for a in nav.find_all("a")]
    return next((text for text in texts if text.startswith(label)), None)


def test_a_supervisor_sees_how_many_cases_wait_for_their_decision(client):
    awaiting_approval(2)
    sign_in_client(client, staff("supervisor"))
    assert nav_link(client, "Approvals") == "Approvals, 2 waiting"


def test_a_case_the_supervisor_worked_is_not_counted_for_them(client):
    case, _other = awaiting_approval(2)
    sign_in_client(client, case.agent)
    case.agent.groups.add(*staff("supervisor").groups.all())  # an agent who also supervises
    assert nav_link(client, "Approvals") == "Approvals, 1 waiting"


def test_nothing_waiting_shows_no_count(client):
    sign_in_client(client, staff("supervisor"))
    assert nav_link(client, "Approvals") == "Approvals"


def test_a_security_admin_sees_how_many_alerts_are_open(client):
    open_alerts(3, acknowledged=2)
    sign_in_client(client, staff("security_admin"))
    assert nav_link(client, "Alerts") == "Alerts, 3 open"


def test_the_count_shows_beside_the_link_text_and_is_read_as_a_sentence(client):
    open_alerts(1)
    sign_in_client(client, staff("security_admin"))
    nav = parse(client.get(reverse("accounts:passkeys")).content.decode()).find_all(
        "nav", aria_label="Main")[0]
    alerts = nav.find_all("a", href=reverse("recovery:alerts"))[0]
    assert alerts.text() == "Alerts1"  # the word, and the count in a badge beside it
    assert alerts.find_all("span")[0].classes == {"nav-count"}
    assert alerts.get("aria-label") == "Alerts, 1 open"


# The same page for every role; the only difference a role makes is its counts.
EXTRA_QUERIES = {"agent": 0, "auditor": 0, "supervisor": 1, "security_admin": 2}


def queries_of_the_page_for(client, role: str, django_assert_num_queries, expected: int):
    sign_in_client(client, staff(role))
    with django_assert_num_queries(expected) as captured:
        assert client.get(reverse("accounts:passkeys")).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("role", EXTRA_QUERIES)
def test_each_count_is_one_query_for_its_role_and_none_for_others(
        client, role, django_assert_num_queries):
    awaiting_approval(2)
    open_alerts(2)
    sign_in_client(client, staff("agent"))
    with CaptureQueriesContext(connection) as baseline:
        client.get(reverse("accounts:passkeys"))
    client.logout()
    expected = len(baseline) + EXTRA_QUERIES[role]
    sql = queries_of_the_page_for(client, role, django_assert_num_queries, expected)
    alert_counts = [q for q in sql if '"recovery_alert"' in q]
    assert len(alert_counts) == (1 if role == "security_admin" else 0)
    # Data grows: the same number of queries.
    awaiting_approval(3)
    open_alerts(5)
    client.logout()
    queries_of_the_page_for(client, role, django_assert_num_queries, expected)
