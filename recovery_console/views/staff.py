"""Pages of the service desk: queue, case, steps, approvals."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import ratelimit
from accounts.identifiers import canonical
from accounts.models import Identity
from accounts.roles import Role, roles_of, staff_required
from accounts.stepup import last_step_up, step_up_required

from .. import clock, forms, selectors, shown_once, workflow
from ..idv import selectors as idv_selectors
from ..idv import workflow as idv
from ..idv.models import IdentityVerification
from ..models import Attestation, ChannelCode, RecoveryCase, RecoveryCredential, ScriptStep
from ..restore import workflow as restore
from ..restore.models import RestoreAttempt
from ..workflow import WorkflowError
from . import queue_table

STAFF = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.SECURITY_ADMIN)
Kind = ScriptStep.Kind
STEP_MESSAGE = "step-"  # extra tag of a message shown beside its step

# What each step offers: (kind, action) -> (button label, form class).
STEP_FORMS = {
    (Kind.CHANNEL_CODE, "send"): ("Send code", forms.SendCodeForm),
    (Kind.CHANNEL_CODE, "check"): ("Check code", forms.CheckCodeForm),
    (Kind.TOTP, "record"): ("Check authenticator code", forms.TotpForm),
    (Kind.CALLBACK, "record"): ("Record callback", forms.CallbackForm),
    (Kind.ID_DOCUMENT, "record"): ("Record document check", forms.DocumentForm),
    (Kind.KNOWLEDGE, "record"): ("Record answer", forms.KnowledgeForm),
    (Kind.ATTESTATION, "request"): ("Send attestation link", forms.forms.Form),
    (Kind.IDENTITY_VERIFICATION, "start_idv"): ("Send the verification link",
                                                forms.IdentityVerificationForm),
}


# Sending again while a code or link is out replaces it: say so on the button.
RESEND = {"send": "Send a new code (voids the one sent)",
          "request": "Send a new link (voids the one sent)",
          "start_idv": "Send a new verification link (replaces the one sent)"}


def _run_step(case, agent, step, action, data, request):
    """Call the workflow function a step form stands for."""
    if action == "send":
        return workflow.send_channel_code(case, agent, step, data["channel"], request=request)
    if action == "check":
        return workflow.check_channel_code(case, agent, step, data["code"], request=request)
    if action == "request":
        return workflow.request_attestation(case, agent, step, request=request)
    if action == "start_idv":
        return idv.start_identity_verification(case, agent, step, data["channel"],
                                               request=request)
    return workflow.record_evidence(
        case, agent, step, passed=data.get("result", "passed") == "passed",
        note=data.get("note", ""), totp_code=data.get("code", ""),
        document_type=data.get("document_type", ""),
        document_last4=data.get("document_last4", ""), request=request,
    )


def _form(form_class, data=None, *, case, step=None):
    # Ids unique per step, so labels stay attached when several steps show forms.
    options = {"auto_id": f"id_step{step.pk}_%s"} if step else {}
    if issubclass(form_class, forms.SendCodeForm):
        return form_class(data, case=case, **options)
    return form_class(data, **options)


def _live_credential(case: RecoveryCase) -> RecoveryCredential | None:
    return case.credentials.live().first()


def _case_url(case: RecoveryCase, anchor: str = "") -> str:
    return reverse("recovery:case", args=[case.pk]) + (f"#{anchor}" if anchor else "")


def _split_messages(request) -> tuple[list, dict]:
    """Messages for the top of the page, and those to show beside a step."""
    general, by_step = [], {}
    for message in messages.get_messages(request):
        tag = next((t for t in message.extra_tags.split() if t.startswith(STEP_MESSAGE)), None)
        if tag:
            by_step.setdefault(tag.removeprefix(STEP_MESSAGE), []).append(message)
        else:
            general.append(message)
    return general, by_step


def _case_for(request: HttpRequest, pk: int, *, page: bool = False) -> RecoveryCase:
    """The case, if the viewer may see it; 404 otherwise (never 403: a case
    one may not see does not exist for them).

    For the case page (``page``), also whether the case was ever restored at
    an identity provider (``restore_tried``: attempts are read only then),
    and the subject's manager, sponsor and owner read apart, in one query:
    joined to the case, its agent and script, they made a query of eight
    tables, which PostgreSQL took longer to plan than to run two."""
    cases = selectors.visible_cases(request.user, pk=pk)
    if not page:
        return get_object_or_404(cases.select_related(
            "identity__manager", "identity__sponsor", "identity__owner", "agent", "script",
            "lost_device_reviewed_by"))
    case = get_object_or_404(cases.select_related(
        "identity", "agent", "script", "lost_device_reviewed_by",
    ).annotate(restore_tried=Exists(RestoreAttempt.objects.filter(case=OuterRef("pk")))))
    selectors.load_relations(case.identity)
    return case


def _render_case(request, case, *, bound=None, error=None, status=200) -> HttpResponse:
    story = selectors.case_story(case)
    actions = selectors.actions_for(case, request.user)
    general, by_step = _split_messages(request)
    idv_steps = idv_selectors.step_states(case, story["steps"], story["now"])
    for entry in story["steps"]:
        entry.idv = idv_steps.get(entry.step.pk)
        entry.waiting = entry.waiting or bool(entry.idv and entry.idv.waiting)
        entry.feedback = by_step.get(str(entry.step.pk), [])
        entry.forms = []
        if "work" in actions and entry.ready and entry.status != "passed":
            for (kind, action), (label, form_class) in STEP_FORMS.items():
                if kind == entry.step.kind:
                    form = (bound[2] if bound and bound[:2] == (entry.step.pk, action)
                            else _form(form_class, case=case, step=entry.step))
                    if _offered(entry, action, form):
                        entry.forms.append((action, RESEND.get(action, label)
                                            if entry.waiting else label, form))
            entry.no_channel = entry.step.kind == Kind.CHANNEL_CODE and not any(
                action == "send" for action, _, _ in entry.forms)
    live = _live_credential(case) if "issue" in actions else None
    context = {**story, "actions": actions, "error": error, "messages": general,
               "live_credential": live,
               "issue_form": _bound(bound, "issue") or forms.IssueForm(
                   case=case, live=live, offered="issue" in actions),
               "rotation_form": _bound(bound, "rotation") or forms.RotationForm(),
               "watch": any(entry.waiting for entry in story["steps"])
               or case.state == RecoveryCase.State.RESTORING,
               "restore_attempts": list(case.restore_attempts.select_related("target")
                                        .order_by("-number")[:3])
               if getattr(case, "restore_tried", True) else [],
               "restore_target": restore.target_for(case.identity, case.tier)
               if "issue" in actions else None,
               "version": selectors.case_version(case, len(story["evidence"]))}
    context.update(_velocity_context(request, case, actions, bound))
    for name in ("reason", "fail", "escalate", "lost_device"):  # one reason form each, ids apart
        context[f"{name}_form"] = _bound(bound, name) or forms.ReasonForm(
            auto_id=f"id_{name}_%s")
    context.update(_holding_forms(case, actions, bound))
    return render(request, "recovery/case.html", context, status=status)


def _velocity_context(request, case, actions, bound=None) -> dict:
    """The pressure checklist (offered to the holding agent while verifying),
    the supervisor's release form, and why the agent may not issue when the
    daily limit holds the case."""
    context = {"pressure_form": _bound(bound, "pressure") or (
        forms.PressureChecklistForm(signs=workflow.pressure_signs())
        if "pressure" in actions else None),
        "release_form": _bound(bound, "release") or forms.ReasonForm(auto_id="id_release_%s"),
        "velocity_block": ""}
    if "issue" not in actions and case.agent_id == request.user.pk and case.state in (
            RecoveryCase.State.APPROVED, RecoveryCase.State.CREDENTIAL_ISSUED):
        refusal = workflow.may_issue(case, request.user)
        if refusal is not None and refusal.reason == "velocity_agent":
            context["velocity_block"] = refusal.message
    return context


def _holding_forms(case, actions, bound=None) -> dict:
    """The note, hand-over and reassignment forms of the case page (the one
    just refused comes back bound). The colleagues are asked for only if a
    form listing them is shown."""
    def hand_over_form(name):
        return _bound(bound, name) or forms.HandOverForm(
            offered=partial(selectors.colleagues, case), auto_id=f"id_{name}_%s")

    return {"note_form": _bound(bound, "note") or forms.NoteForm(auto_id="id_note_%s"),
            "hand_over_form": hand_over_form("hand_over"),
            "reassign_form": hand_over_form("reassign"),
            "offers_actions": bool(actions - {"note"})}


def _offered(entry, action: str, form) -> bool:
    """A step form is shown only when it can do something: a code to check
    only while one is out, a code to send only to a channel that may get it."""
    if action == "check":
        return entry.waiting or form.is_bound
    if action == "send":
        return form.is_bound or form.fields["channel"].queryset.exists()
    if action == "start_idv":  # only with a provider configured, and a channel to send to
        return entry.idv.available and (form.is_bound
                                        or form.fields["channel"].queryset.exists())
    return True


def _bound(bound, name):
    return bound[2] if bound and bound[0] == name else None


def _refused(request, case, refusal: WorkflowError, bound=None) -> HttpResponse:
    status = refusal.status  # the refusal's own HTTP meaning
    case.refresh_from_db()
    return _render_case(request, case, bound=bound, error=refusal.message, status=status)


def _decide(request, case, decision, *, done: str, bound=None, then: str | None = None
            ) -> HttpResponse:
    """Run one decision taken from the case page: refused, the case page
    answers with the refusal (beside ``bound``'s form) and its HTTP meaning;
    done, ``done`` is said and the page moves on (to the case, or ``then``)."""
    try:
        decision()
    except WorkflowError as refusal:
        return _refused(request, case, refusal, bound=bound)
    messages.success(request, done)
    return redirect(then or reverse("recovery:case", args=[case.pk]))


# Where each role starts. A person with several roles starts at the first
# they hold in this order: the decisions others wait on (a supervisor's
# approvals hold an agent's case and run against its deadline), then the
# queue, then the alerts, then the audit, which no clock runs against.
START_PAGES = (
    (Role.SUPERVISOR, "recovery:approvals"),
    (Role.AGENT, "recovery:queue"),
    (Role.SECURITY_ADMIN, "recovery:alerts"),
    (Role.AUDITOR, "audit:dashboard"),
)


@require_GET
def home(request):
    """Someone not signed in: the way to a recovery request and to staff
    sign-in. Staff: the page their role starts from (START_PAGES). Anyone
    else signed in: their own passkeys."""
    user = request.user
    if not user.is_authenticated or not user.is_verified():
        return render(request, "home.html")
    held = roles_of(user)
    return redirect(next((page for role, page in START_PAGES if role in held),
                         "accounts:passkeys"))


@require_GET
@staff_required(Role.AGENT, Role.SUPERVISOR, Role.AUDITOR)
def queue(request):
    form = forms.QueueFilterForm(request.GET)
    form.is_valid()  # a filter that is not a choice is left out; a bad search is answered
    if "q" in form.errors:  # the search as typed, its error, and nothing found
        return render(request, "recovery/queue.html", {"form": form}, status=400)
    now, soon = clock.now(), selectors.queue_due_soon()
    filters = form.filters()
    page, counts = selectors.queue_with_clock(request.user, filters, request.GET.get("page", 1),
                                              settings.RECOVERY_QUEUE_PAGE_SIZE, now, soon)
    for case in page.object_list:
        case.may_claim = workflow.may_claim(case, request.user) is None
        case.time_left = selectors.deadline(case, now, soon) if case.is_open else None
    queue_table.link_rows(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    bulk = any(case.may_select for case in page.object_list)
    return render(request, "recovery/queue.html", {
        **queue_table.table_context(query, filters.sort, bulk=bulk), "filters": filters,
        "form": form, "page": page, "cases": page.object_list, "query": query.urlencode(),
        "clock": counts,
        # Bulk actions (views.holding): only for someone who may take a listed case.
        "bulk": bulk,
        "bulk_form": forms.BulkReassignForm(offered=selectors.colleagues, auto_id="id_bulk_%s",
                                            initial={"query": request.GET.urlencode()}),
    })


@require_http_methods(["GET", "POST"])
@staff_required(Role.AGENT)
def open_case(request):
    form = forms.OpenCaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        identity = Identity.objects.filter(
            directory_key=canonical(form.cleaned_data["directory_id"])).first()
        if identity is None:
            form.add_error("directory_id", "No identity has this directory id.")
        else:
            try:
                case = workflow.open_case(identity, source=RecoveryCase.Source.DESK,
                                          actor=request.user, request=request)
            except WorkflowError as refusal:
                form.add_error(None, refusal.message)
            else:
                return _opened(request, case)
    status = 400 if form.errors else 200
    return render(request, "recovery/open_case.html", {"form": form}, status=status)


def _opened(request: HttpRequest, case: RecoveryCase) -> HttpResponse:
    """After opening a case: to it, or, when it was routed to a team the
    agent is not in (a person their team does not serve), back to the queue,
    saying where it went (workflow.route)."""
    if workflow.in_scope(case, request.user):
        return redirect("recovery:case", case.pk)
    where = case.team.name if case.team else "the console's own desk"
    messages.info(request, f"Case {case.pk} is opened and waits in the queue of {where}: "
                           "your team does not serve this person at this tier.")
    return redirect("recovery:queue")


@never_cache  # "back" shows the case as it is now, never a copy from before an issue
@require_GET
@staff_required(*STAFF)
def case_detail(request, pk: int):
    return _render_case(request, _case_for(request, pk, page=True))


@require_POST
@staff_required(Role.AGENT)
def claim(request, pk: int):
    case = _case_for(request, pk)
    return _decide(request, case, lambda: workflow.claim(case, request.user, request=request),
                   done="You hold this case now.")


@require_POST
@staff_required(Role.AGENT)
def unclaim(request, pk: int):
    case = _case_for(request, pk)
    return _decide(request, case, lambda: workflow.unclaim(case, request.user, request=request),
                   done="The case is back in the queue.", then=reverse("recovery:queue"))


def _code_check(request, pk: int, step_pk: int) -> str | None:
    """A step submission carrying a code (channel code, authenticator code) is
    a guess, counted per case; only for a case the agent may see."""
    if request.POST.get("code") is None:
        return None
    return f"case:{_case_for(request, pk).pk}"


def _too_many_code_checks(request, pk: int, step_pk: int) -> HttpResponse:
    return _render_case(request, _case_for(request, pk), status=429,
                        error="Too many codes were checked on this case. Wait 15 minutes.")


@require_POST
@staff_required(Role.AGENT)
@ratelimit.rate_limited(ratelimit.CODE_CHECK, subject=_code_check, refused=_too_many_code_checks,
                        target=RecoveryCase)
def step_action(request, pk: int, step_pk: int):
    case = _case_for(request, pk)
    step = get_object_or_404(case.script.steps, pk=step_pk)
    action = request.POST.get("action", "")
    if (step.kind, action) not in STEP_FORMS:
        return _render_case(request, case, error="That action does not fit this step.",
                            status=400)
    form = _form(STEP_FORMS[step.kind, action][1], request.POST, case=case, step=step)
    bound = (step.pk, action, form)
    if not form.is_valid():
        return _render_case(request, case, bound=bound, status=400)
    try:
        result = _run_step(case, request.user, step, action, form.cleaned_data, request)
    except WorkflowError as refusal:
        form.add_error(None, refusal.message)
        return _refused(request, case, refusal, bound=bound)
    level, text = _step_feedback(step, result)
    messages.add_message(request, level, text, extra_tags=f"{STEP_MESSAGE}{step.pk}")
    return redirect(_case_url(case, f"step-{step.pk}"))


def _step_feedback(step, result) -> tuple[int, str]:
    """What a step's submission did, in words that do not claim more."""
    if isinstance(result, ChannelCode):
        return messages.INFO, (f"Code sent to {result.channel}. Waiting for the caller to read "
                               "it back: step not passed yet.")
    if isinstance(result, IdentityVerification):
        return messages.INFO, (f"Verification link sent to {result.channel}. Waiting for the "
                               "provider's result: step not passed yet.")
    if isinstance(result, Attestation):
        return messages.INFO, (f"Link sent to the {result.relation}, {result.attester.display_name}"
                               ". Waiting for their answer: step not passed yet.")
    if result.result == "failed":
        return messages.ERROR, f"Step {step.position} failed: {result.note or 'see evidence'}"
    return messages.SUCCESS, f"Step {step.position} passed."


@require_POST
@staff_required(Role.AGENT)
def request_approval(request, pk: int):
    case = _case_for(request, pk)
    to = "security admins" if case.rules.approver_role == "security_admin" else "supervisors"
    return _decide(request, case,
                   lambda: workflow.request_approval(case, request.user, request=request),
                   done=f"Sent to {to} for approval.")


@require_POST
@staff_required(Role.AGENT)
def issue_credential(request, pk: int):
    """Issue, then redirect to the page that shows the code once (POST,
    redirect, GET): a reload or "back" never issues or voids anything."""
    case = _case_for(request, pk)
    form = forms.IssueForm(request.POST, case=case)
    if not form.is_valid():
        return _render_case(request, case, bound=("issue", None, form), status=400)
    data = form.cleaned_data
    target = restore.target_for(case.identity, case.tier)
    if target is not None:  # an external target: its provider issues the credential
        return _decide(request, case, lambda: restore.begin_restore(
            case, request.user, target, channel=data["channel"], key=data["key"] or None,
            request=request), bound=("issue", None, form),
            done=f"Asked {target.get_kind_display().split(' (')[0]} for the person's temporary "
                 "credential: the case shows “restoring” until the provider confirms.")
    try:
        issued = workflow.issue_credential(case, request.user, channel=data["channel"],
                                           key=data["key"] or None, replaces=data["replaces"],
                                           request=request)
    except WorkflowError as refusal:
        return _refused(request, case, refusal, bound=("issue", None, form))
    if issued.code and issued.credential.delivery == RecoveryCredential.Delivery.READ_OUT:
        shown_once.keep(request.session, issued.credential, issued.code)
    return redirect("recovery:issued", case.pk, issued.credential.pk)


@never_cache
@require_GET
@staff_required(Role.AGENT)
def issued(request, pk: int, credential_pk: int):
    """A credential just issued: its read-out code the first time only."""
    case = _case_for(request, pk)
    credential = get_object_or_404(case.credentials.select_related("channel"), pk=credential_pk)
    code = shown_once.take(request.session, credential)
    live = _live_credential(case)
    may_issue = workflow.may_issue(case, request.user) is None
    return render(request, "recovery/issued.html", {
        "case": case, "credential": credential, "code": code, "live": live,
        "read_out_address": workflow.read_out_address(),
        "issue_form": forms.IssueForm(case=case, live=live) if may_issue else None,
    })


@never_cache
@require_GET
@staff_required(*STAFF)
def case_watch(request, pk: int):
    """What the case page polls while it waits for an answer: a version
    that changes when the page would. Polling keeps nobody signed in."""
    request.not_activity = True
    return JsonResponse({"version": selectors.case_version(_case_for(request, pk))})


def _reason_decision(request, pk: int, name: str, decide, done: str) -> HttpResponse:
    """A decision that takes only a reason (cancel, fail, escalate)."""
    case = _case_for(request, pk)
    form = forms.ReasonForm(request.POST, auto_id=f"id_{name}_%s")
    if not form.is_valid():
        return _render_case(request, case, bound=(name, None, form), status=400)
    return _decide(request, case, lambda: decide(case, request.user, form.cleaned_data["reason"],
                                                 request=request),
                   done=done, bound=(name, None, form))


@require_POST
@staff_required(Role.AGENT, Role.SUPERVISOR)
def fail(request, pk: int):
    return _reason_decision(request, pk, "fail", workflow.fail,
                            "Verification failed: the case is closed and nothing was reset.")


@require_POST
@staff_required(Role.AGENT)
def escalate(request, pk: int):
    done = _reason_decision(request, pk, "escalate", workflow.escalate,
                            "Escalated: the case now follows a stricter tier's script, and "
                            "supervisors see it with your reason.")
    return _to_queue_if_moved_away(request, pk, done)


def _to_queue_if_moved_away(request, pk: int, done: HttpResponse) -> HttpResponse:
    """After a decision that raised the tier: a case its help-desk team no
    longer serves moved to another team's queue (``workflow.reroute``); an
    agent who may no longer see it goes back to their queue, told why."""
    if done.status_code == 302 and not selectors.visible_cases(request.user, pk=pk).exists():
        messages.info(request, f"Case {pk} moved to another team's queue at its new tier: "
                               "it is no longer yours.")
        return redirect("recovery:queue")
    return done


@require_POST
@staff_required(Role.AGENT, Role.SUPERVISOR)
def cancel(request, pk: int):
    return _reason_decision(request, pk, "reason", workflow.cancel, "The case is cancelled.")


@require_POST
@staff_required(Role.AGENT)
def record_rotation(request, pk: int):
    case = _case_for(request, pk)
    form = forms.RotationForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case, bound=("rotation", None, form), status=400)
    return _decide(request, case, lambda: workflow.record_rotation(
        case, request.user, form.cleaned_data["reference"], form.cleaned_data["note"],
        request=request), done="Rotation recorded: the governance case is complete.",
        bound=("rotation", None, form))


@require_POST
@staff_required(Role.SUPERVISOR)
@step_up_required
def review_lost_device(request, pk: int):
    """A supervisor who stepped up reviews a "lost" passkey's sign-in, with a
    note: issuing may go on (workflow.review_lost_device)."""
    case = _case_for(request, pk)
    form = forms.ReasonForm(request.POST, auto_id="id_lost_device_%s")
    if not form.is_valid():
        return _render_case(request, case, bound=("lost_device", None, form), status=400)
    return _decide(request, case, lambda: workflow.review_lost_device(
        case, request.user, form.cleaned_data["reason"], step_up=last_step_up(request),
        request=request), done="Reviewed: the agent may issue the credential again.",
        bound=("lost_device", None, form))


@require_GET
@staff_required(Role.SUPERVISOR, Role.SECURITY_ADMIN)
def approvals(request):
    """The cases waiting for this approver's kind of decision: how long each
    has waited, its deadline, and why they may not decide one; after a
    decision (``?decided=``), the next case they may decide has the focus."""
    page = Paginator(selectors.awaiting_approval(request.user),
                     settings.RECOVERY_QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.waiting(request.user, page.object_list)
    decidable = [row.case for row in rows if row.decidable]
    return render(request, "recovery/approvals.html", {
        "page": page, "rows": rows, "cases": decidable,
        "next_case": decidable[0] if decidable else
        selectors.pending_approvals(request.user).order_by("deadline", "pk").first(),
        "just_decided": request.GET.get("decided", "").isdigit(),
        # Supervisors may fail or cancel an escalated case (workflow.may_fail, may_cancel).
        "escalated": selectors.escalated_cases()[:50]
        if Role.SUPERVISOR in roles_of(request.user) else [],
        # Supervisors review a "lost" passkey's sign-in (workflow.review_lost_device).
        "lost_devices": selectors.lost_device_cases()[:50]
        if Role.SUPERVISOR in roles_of(request.user) else []})


@require_http_methods(["GET", "POST"])
@staff_required(Role.SUPERVISOR, Role.SECURITY_ADMIN)
@step_up_required
def decide(request, pk: int):
    """The whole trail of a case awaiting approval, and the decision on it;
    once decided, back to the approvals list, with the next case ready."""
    case = _case_for(request, pk)
    form = forms.DecisionForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        decide_with = workflow.approve if form.cleaned_data["decision"] == "approve" \
            else workflow.deny
        try:
            decide_with(case, request.user, form.cleaned_data["reason"],
                        step_up=last_step_up(request), request=request)
        except WorkflowError as refusal:
            form.add_error(None, refusal.message)
            status = refusal.status
        else:
            messages.success(request, f"Your decision on case {case.pk} is recorded.")
            return redirect(f"{reverse('recovery:approvals')}?decided={case.pk}")
    elif form.errors:
        status = 400
    refusal = workflow.may_decide(case, request.user)
    story = selectors.case_story(case)
    return render(request, "recovery/decide.html", {
        **story, "brief": selectors.approval_brief(story), "form": form,
        "can_decide": refusal is None, "why_not": refusal.message if refusal else "",
    }, status=status)
