"""Reviews after a repudiation: security admins (and auditors, read only)
list the staff marked for review when a person said a recovery wasn't them;
a security admin closes a review with an outcome and a note."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, staff_required

from .. import forms, selectors, workflow
from ..models import InvolvementReview

REVIEWS_PER_PAGE = 50
review_readers = staff_required(Role.SECURITY_ADMIN, Role.AUDITOR)


@review_readers
@require_GET
def review_list(request):
    filters = forms.ReviewFilterForm(request.GET or None)
    state = (filters.cleaned_data.get("state") if filters.is_valid() else "") or "open"
    page = selectors.review_page(state, request.GET.get("page", 1), per_page=REVIEWS_PER_PAGE)
    return render(request, "recovery/reviews.html", {
        "filters": filters, "page": page, "reviews": page.object_list, "state": state,
        "filter_query": f"state={state}" if request.GET.get("state") else "",
    }, status=400 if filters.errors else 200)


@review_readers
@require_http_methods(["GET", "POST"])
def review_detail(request, pk: int):
    try:
        review = selectors.review_for(pk)
    except InvolvementReview.DoesNotExist:
        raise Http404("No such review.") from None
    form = forms.CloseReviewForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        # The decision checks the right first (an auditor is refused, audited),
        # then the outcome and the note: the form only shows them again.
        try:
            workflow.close_review(review, request.user, request.POST.get("outcome", ""),
                                  request.POST.get("note", ""), request=request)
        except workflow.WorkflowError as refusal:
            field = {"bad_outcome": "outcome", "note_required": "note", "note_length": "note",
                     "note_characters": "note"}.get(refusal.reason)
            form.add_error(field, refusal.message)
            status = refusal.status
        else:
            messages.success(request, f"Review of {workflow.staff_name(review.staff)}'s part "
                                      f"in case {review.case_id} closed.")
            return redirect("recovery:reviews")
    return render(request, "recovery/review.html", {
        "review": review, "form": form, "refusal": workflow.may_close_review(review, request.user),
        "others": selectors.other_reviews_of(review),
    }, status=status)
