"""Closing a review races on PostgreSQL: two security admins at the same
moment, exactly one outcome is kept. Real threads with their own
connections; no mocks, no sleeps."""

import pytest

from recovery_console import workflow
from recovery_console.models import InvolvementReview
from tests.factories import recovery_case, staff
from tests.services import race

from .support import refusals

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


def test_two_admins_closing_one_review_at_once_exactly_one_wins(on_postgres):
    agent = staff("agent")
    review = InvolvementReview.objects.create(case=recovery_case("low", agent=agent),
                                              staff=agent, roles=["worked"])
    first, second = staff("security_admin"), staff("security_admin")
    results, refused = race(
        lambda: workflow.close_review(review, first, "cleared", "Followed the script."),
        lambda: workflow.close_review(review, second, "coaching", "Skipped the callback."),
    )
    assert len(results) == 1 and len(refused) == 1
    assert refused[0].reason == "review_closed"
    review.refresh_from_db()
    assert (review.closed_by, review.outcome) in ((first, "cleared"), (second, "coaching"))
    assert refusals("review_close", "review_closed").count() == 1
