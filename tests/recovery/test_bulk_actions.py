"""The queue's bulk actions through HTTP: an agent gives back several of
their own cases, a supervisor reassigns several open cases to one agent.
Each case is its own decision (audited, refused on its own with a reason);
bad input changes nothing; only those who may use them see them."""

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.forms import BULK_LIMIT
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import events, refusals

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")
GIVE_BACK = reverse("recovery:give_back_selected")
REASSIGN = reverse("recovery:reassign_selected")


def holders(*cases):
    return [RecoveryCase.objects.get(pk=case.pk).agent_id for case in cases]


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def ann():
    return staff("agent", first_name="Ann", last_name="Agent")


@pytest.fixture
def bea():
    return staff("agent", first_name="Bea", last_name="Agent")


def test_an_agent_gives_back_their_cases_and_the_others_are_refused_one_by_one(client, ann,
                                                                              bea):
    mine = [recovery_case("low", agent=ann), recovery_case("medium", agent=ann)]
    unclaimed, beas = recovery_case("low"), recovery_case("low", agent=bea)
    sign_in_client(client, ann)
    page = client.get(QUEUE).content.decode()
    ticked = set(map(int, re.findall(r'name="cases" value="(\d+)"', page)))
    assert ticked == {case.pk for case in mine}  # only their own cases can be ticked
    response = client.post(GIVE_BACK, {
        "cases": [mine[0].pk, unclaimed.pk, beas.pk, mine[1].pk, 999999],
        "query": "tier=&assigned=mine"})
    assert response.status_code == 302 and response.url == QUEUE + "?tier=&assigned=mine"
    assert holders(*mine, unclaimed, beas) == [None, None, None, bea.pk]
    assert events("case_unclaimed").count() == 2
    assert refusals("case_unclaim", "not_holder").get().object_pk == str(unclaimed.pk)
    messages = said(response)
    assert f"2 cases (#{mine[0].pk}, #{mine[1].pk}) given back to the queue." in messages
    assert (f"Case #{unclaimed.pk} not given back to the queue: Claim this case before "
            "working on it.") in messages
    assert (f"2 cases (#{beas.pk}, #999999) not given back to the queue: No such case is open "
            "to you.") in messages


def test_a_supervisor_reassigns_several_cases_to_one_agent(client, ann, bea):
    held, new = recovery_case("low", agent=ann), recovery_case("medium")
    closed = recovery_case("low", agent=ann)
    workflow.cancel(closed, ann, "Duplicate.")
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    page = client.get(QUEUE).content.decode()
    assert "Reassign selected cases" in page and "Give back selected cases" not in page
    assert set(map(int, re.findall(r'name="cases" value="(\d+)"', page))) == {held.pk, new.pk}
    response = client.post(REASSIGN, {"cases": [held.pk, new.pk, closed.pk], "to": bea.pk,
                                      "note": "Ann is off today."})
    assert response.status_code == 302 and response.url == QUEUE
    assert holders(held, new, closed) == [bea.pk, bea.pk, ann.pk]
    entries = events("case_reassigned").order_by("pk")
    assert [e.object_pk for e in entries] == [str(held.pk), str(new.pk)]
    assert [e.additional_data["from_name"] for e in entries] == ["Ann Agent", ""]
    assert {e.additional_data["note"] for e in entries} == {"Ann is off today."}
    assert refusals("case_reassign", "state").get().object_pk == str(closed.pk)
    messages = said(response)
    assert f"2 cases (#{held.pk}, #{new.pk}) reassigned to Bea Agent." in messages
    assert any(m.startswith(f"Case #{closed.pk} not reassigned to Bea Agent: You cannot "
                            "reassign a case while the case is cancelled.") for m in messages)


def test_a_bulk_reassignment_to_someone_who_is_not_an_agent_is_refused_for_each(client, ann):
    cases = [recovery_case("low", agent=ann), recovery_case("low")]
    sign_in_client(client, staff("supervisor"))
    auditor = staff("auditor", first_name="Aud", last_name="Itor")
    response = client.post(REASSIGN, {"cases": [c.pk for c in cases], "to": auditor.pk,
                                      "note": "Here."})
    assert response.status_code == 302
    assert holders(*cases) == [ann.pk, None]
    assert refusals("case_reassign", "target_not_agent").count() == 2
    assert (f"2 cases (#{cases[0].pk}, #{cases[1].pk}) not reassigned to Aud Itor: Aud Itor "
            "is not an agent") in said(response)[0]


def test_an_agent_cannot_bulk_reassign(client, ann, bea):
    case = recovery_case("low", agent=ann)
    sign_in_client(client, ann)
    assert "Reassign selected cases" not in client.get(QUEUE).content.decode()
    response = client.post(REASSIGN, {"cases": [case.pk], "to": bea.pk, "note": "Bea's now."})
    assert response.status_code == 403
    assert holders(case) == [ann.pk] and not events("case_reassigned").exists()


@pytest.mark.parametrize("role", ["supervisor", "auditor", "security_admin"])
def test_only_agents_give_back_in_bulk(client, ann, role):
    case = recovery_case("low", agent=ann)
    sign_in_client(client, staff(role))
    assert client.post(GIVE_BACK, {"cases": [case.pk]}).status_code == 403
    assert holders(case) == [ann.pk]


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Select at least one case."),
    ({"cases": ["twelve"]}, "Those are not case numbers."),
    ({"cases": ["-3"]}, "Those are not case numbers."),
    # With the case the test adds: one more than the limit, whatever its number.
    ({"cases": [str(n) for n in range(10**6, 10**6 + BULK_LIMIT)]},
     f"Select at most {BULK_LIMIT} cases at a time (you selected {BULK_LIMIT + 1})."),
])
def test_bad_bulk_input_changes_nothing_and_says_why(client, ann, bea, data, message):
    case = recovery_case("low", agent=ann)
    sign_in_client(client, ann)
    data = {**data, "cases": [*data.get("cases", []), *([] if not data else [case.pk])]}
    response = client.post(GIVE_BACK, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert holders(case) == [ann.pk] and not events("case_unclaimed").exists()


def test_a_bulk_reassignment_needs_an_agent_and_a_note(client, ann, bea):
    case = recovery_case("low", agent=ann)
    sign_in_client(client, staff("supervisor"))
    for data, message in (({"note": "Here."}, "Choose a colleague."),
                          ({"to": bea.pk}, "Write the note.")):
        response = client.post(REASSIGN, {"cases": [case.pk], **data})
        assert response.status_code == 400 and message in response.content.decode()
    assert holders(case) == [ann.pk]


def test_a_hundred_cases_at_once_are_accepted(client, ann):
    sign_in_client(client, ann)
    response = client.post(GIVE_BACK, {"cases": list(range(1, BULK_LIMIT + 1))})
    assert response.status_code == 302  # none of them exist: each refused, in one message
    assert f"{BULK_LIMIT} cases" in said(response)[0]


def test_bulk_actions_need_the_csrf_token(ann):
    case = recovery_case("low", agent=ann)
    client = sign_in_client(Client(enforce_csrf_checks=True), ann)
    assert client.post(GIVE_BACK, {"cases": [case.pk]}).status_code == 403
    assert holders(case) == [ann.pk]
    page = client.get(QUEUE).content.decode()
    form = page[page.index('id="bulk"'):]
    assert 'name="csrfmiddlewaretoken"' in form[:form.index("</form>")]


def test_the_bulk_column_and_form_appear_only_to_who_may_use_them(client, ann):
    recovery_case("low", agent=staff("agent"))
    recovery_case("low")
    for user, shown in ((staff("auditor"), False), (ann, False), (staff("supervisor"), True)):
        sign_in_client(client, user)
        page = client.get(QUEUE).content.decode()
        assert ('id="bulk"' in page) == shown, user
        assert ('name="cases"' in page) == shown, user
    recovery_case("low", agent=ann)
    sign_in_client(client, ann)
    page = client.get(QUEUE).content.decode()
    assert 'id="bulk"' in page and "Give back selected cases" in page
    assert "Reassign selected cases" not in page
