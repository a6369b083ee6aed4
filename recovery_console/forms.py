"""Forms validate shape only; rights, state and limits of what is recorded
(note and reason lengths) are the workflow's business, so that refusing them
is audited like any other refusal. Browsers still get ``maxlength``."""

import functools
import secrets
from collections.abc import Callable

from django import forms

from accounts.identifiers import validate_identifier, validate_one_line_identifier
from accounts.models import Identity, RecoveryChannel, User

from .models import NOTE_MAX_LENGTH, Alert, InvolvementReview, RecoveryCase, Tier
from .selectors import QUEUE_SORTS, QueueFilters, usable_channels
from .workflow import DOCUMENT_TYPES, staff_name

# Long enough for any email address (RecoveryChannel.address), not for prose.
SEARCH_MAX_LENGTH = 254
SIX_DIGITS = forms.RegexField(
    regex=r"^\d{6}$", label="Code the caller reads out", max_length=6,
    error_messages={"invalid": "Enter the 6-digit code."},
    widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
)


class FixedSelect(forms.Select):
    """A select whose choices are fixed in the code: its HTML for a chosen
    value is rendered once per process and reused (the queue's filters are on
    every page of the queue, and Django renders each option through its own
    template). A value that is not a choice is rendered every time, so what
    is kept stays bounded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rendered = {}

    def __deepcopy__(self, memo):
        copied = super().__deepcopy__(memo)
        copied._rendered = self._rendered  # every form's copy shares what was rendered
        return copied

    def render(self, name, value, attrs=None, renderer=None):
        choices = tuple((str(v), str(label)) for v, label in self.choices)
        if value is not None and (not isinstance(value, str)
                                  or value not in {v for v, _ in choices}):
            return super().render(name, value, attrs, renderer)
        key = (name, value, tuple(sorted({**self.attrs, **(attrs or {})}.items())), renderer,
               choices)
        if key not in self._rendered:
            self._rendered[key] = super().render(name, value, attrs, renderer)
        return self._rendered[key]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, label="Status", widget=FixedSelect,
        choices=[("open", "Open"), ("all", "All")] + list(RecoveryCase.State.choices),
    )
    tier = forms.ChoiceField(required=False, label="Tier", widget=FixedSelect,
                             choices=[("", "Any tier")] + list(Tier.choices))
    assigned = forms.ChoiceField(
        required=False, label="Assigned", widget=FixedSelect,
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")],
    )
    kind = forms.ChoiceField(required=False, label="Kind", widget=FixedSelect,
                             choices=[("", "Any kind")] + list(Identity.Kind.choices))
    q = forms.CharField(
        required=False, label="Search", max_length=SEARCH_MAX_LENGTH,
        validators=[validate_one_line_identifier],
        help_text="Case number, name, directory id, email or phone number.",
        widget=forms.TextInput(attrs={
            "type": "search", "autocomplete": "off", "spellcheck": "false",
            "aria-keyshortcuts": "/"}),
    )
    # Set by the table's column headers; kept through the form as a hidden field.
    sort = forms.ChoiceField(required=False, widget=forms.HiddenInput, choices=[("", "")] + [
        (f"{direction}{key}", key) for key in QUEUE_SORTS for direction in ("", "-")])

    field_order = ["q", "status", "tier", "assigned", "kind", "sort"]

    def filters(self) -> QueueFilters:
        """The filters from the fields that are valid (one that is not a
        choice, e.g. from an old link, is left out rather than refused)."""
        chosen = {k: v for k, v in self.cleaned_data.items() if v}
        return QueueFilters(search=chosen.pop("q", ""), **chosen)


class SendCodeForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=RecoveryChannel.objects.none(), label="Registered channel",
        help_text="Only channels on file; never a number or address the caller gives.",
    )

    def __init__(self, *args, case: RecoveryCase, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = _usable_channels(case)


class IdentityVerificationForm(SendCodeForm):
    """Where the provider's verification link goes: a channel on file."""


def _usable_channels(case: RecoveryCase):
    """Only channels that may serve this case now: stale, revoked and (for
    high tiers) recently changed ones are not offered at all."""
    return RecoveryChannel.objects.filter(pk__in=usable_channels(case))


class CheckCodeForm(forms.Form):
    code = SIX_DIGITS


class TotpForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\d{6}$", label="Code from the caller's authenticator", max_length=6,
        error_messages={"invalid": "Enter the 6-digit code."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


RESULT_CHOICES = [("passed", "Passed"), ("failed", "Failed")]


class CallbackForm(forms.Form):
    result = forms.ChoiceField(choices=RESULT_CHOICES, label="Result")
    note = forms.CharField(label="Who answered, what they confirmed",
                           widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}))


class DocumentForm(forms.Form):
    result = forms.ChoiceField(choices=RESULT_CHOICES, label="Result")
    document_type = forms.ChoiceField(choices=list(DOCUMENT_TYPES.items()),
                                      label="Document type")
    document_last4 = forms.RegexField(
        regex=r"^[A-Za-z0-9]{1,4}$", max_length=4, label="Last 4 characters of its number",
        help_text="Nothing else: no full number, no image.",
        error_messages={"invalid": "Letters and digits only, 4 at most."},
    )
    note = forms.CharField(required=False, label="Note",
                           widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}))


class KnowledgeForm(forms.Form):
    result = forms.ChoiceField(choices=RESULT_CHOICES, label="Result")
    note = forms.CharField(required=False, label="Note",
                           widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason",
                             widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve the reset"),
                                          ("deny", "Deny the reset")],
                                 widget=forms.RadioSelect, label="Decision")
    reason = forms.CharField(label="Reason (required)",
                             widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}))


class IssueForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=RecoveryChannel.objects.none(), required=False, label="Deliver to",
        empty_label="Nowhere: I read the code out to the verified caller",
    )
    # A fresh one-time key per page shown: posting the same form twice issues
    # once. The page always sends both fields (a request without them gets no
    # such protection, as a workflow call without them).
    key = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$", widget=forms.HiddenInput,
                           required=False,
                           error_messages={"invalid": "Reload the case and issue again."})
    # The live credential the page showed (0: none): issuing voids only that one.
    replaces = forms.IntegerField(min_value=0, widget=forms.HiddenInput, required=False,
                                  error_messages={"invalid": "Reload the case and issue again.",
                                                  "min_value": "Reload the case and issue again."})

    def __init__(self, *args, case: RecoveryCase, live=None, offered: bool = True, **kwargs):
        # Not ``offered``: the page does not show the form (issuing is not
        # offered now), so which channels may get the credential is not read.
        kwargs.setdefault("initial", {"key": secrets.token_urlsafe(16),
                                      "replaces": live.pk if live else 0})
        super().__init__(*args, **kwargs)
        if offered:
            self.fields["channel"].queryset = _usable_channels(case)

    def clean(self):
        # Hidden fields have no place to show an error: say it for the form.
        for name in ("key", "replaces"):
            for error in self.errors.pop(name, []):
                self.add_error(None, error)
        return super().clean()


class IdentifierField(forms.CharField):
    """A directory id or email address as typed: only plain spaces around it
    are dropped; an invisible or control character anywhere is refused with
    a message saying which, never cleaned away silently."""

    def __init__(self, **kwargs):
        super().__init__(strip=False, validators=[validate_identifier], **kwargs)

    def to_python(self, value):
        return super().to_python(value).strip(" ")


class OpenCaseForm(forms.Form):
    directory_id = IdentifierField(max_length=64, label="Directory id of the person")


class SelfServiceForm(forms.Form):
    identifier = IdentifierField(
        max_length=254, label="Your work email address or directory id",
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )


NO_PASSKEYS = ("This browser cannot create a passkey (JavaScript is off or passkeys are not "
               "supported), so your code was not used. Open the link in an up-to-date browser "
               "with JavaScript on, or call the service desk.")


class RedeemForm(forms.Form):
    """The code, and the browser's word (set by static/js/passkey.js) that it
    can create the passkey the recovery ends with: redeeming consumes the
    credential, so a browser that cannot finish must not start."""

    code = forms.CharField(
        max_length=40, label="Recovery code",
        help_text="The code you received or the service desk read to you.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                      "autocapitalize": "characters"}),
    )
    passkeys = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        if self.cleaned_data.get("passkeys") != "supported":
            raise forms.ValidationError(NO_PASSKEYS, code="no_passkeys")
        return super().clean()


class ReadOutRedeemForm(RedeemForm):
    """For a credential read out on the phone: its short reference and the code."""

    reference = forms.CharField(
        max_length=20, label="Reference",
        help_text="The 8 characters the service desk gave you with the code, like ABCD-EF23.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    field_order = ["reference", "code"]


class AttestationForm(forms.Form):
    answer = forms.ChoiceField(
        choices=[("confirm", "Yes, I know about this request and it is genuine"),
                 ("refuse", "No, I do not recognise this request")],
        widget=forms.RadioSelect, label="Your answer",
    )


class RotationForm(forms.Form):
    reference = forms.CharField(label="Change ticket or vault reference", max_length=100)
    note = forms.CharField(label="Note", required=False, max_length=500,
                           widget=forms.Textarea(attrs={"rows": 2}))


class AlertFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, label="Kind",
                             choices=[("", "Any kind"), *Alert.Kind.choices])
    state = forms.ChoiceField(required=False, label="State", choices=[
        ("open", "Open"), ("acknowledged", "Acknowledged"), ("all", "All")])


class AcknowledgeAlertsForm(forms.Form):
    note = forms.CharField(
        required=False, label="Note",
        help_text="Kept with each alert and in the audit trail: what you checked or did.",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}),
    )


class RevokeChannelsForm(forms.Form):
    reason = forms.CharField(
        required=False, label="Reason",
        help_text="Required. Kept in each channel's audit entry and shown below.",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500, "required": True}),
    )


# --- notes, hand-overs and bulk actions ------------------------------------

# At most this many cases in one bulk action: each is its own decision and
# transaction, and a page of the queue holds far fewer.
BULK_LIMIT = 100


def _note_field(label: str, help_text: str = "") -> forms.CharField:
    # Not stripped here: the workflow keeps the text as it means to record it
    # (line breaks kept, controls refused with a message) and refuses an empty one.
    return forms.CharField(
        label=label, strip=False, help_text=help_text,
        error_messages={"required": "Write the note."},
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTE_MAX_LENGTH}))


class NoteForm(forms.Form):
    text = _note_field("Note", "Seen by the staff who work or review this case; it cannot be "
                               "edited or deleted.")


class ColleagueField(forms.ModelChoiceField):
    """Any account by its id (who may hold the case is the workflow's
    question, refused with a reason); the list shows only the ``offered``."""

    def __init__(self, **kwargs):
        super().__init__(queryset=User.objects.all(), empty_label=None, error_messages={
            "required": "Choose a colleague.",
            "invalid_choice": "Choose a colleague from the list."}, **kwargs)

    def offer(self, people: Callable[[], list[User]]) -> None:
        """List ``people()`` in the widget, asked only if the form is shown,
        and once (rendering a select reads its choices more than once)."""
        @functools.cache
        def choices() -> list[tuple]:
            return [("", "Choose a colleague")] + [
                (person.pk, self.label_from_instance(person)) for person in people()]

        self.widget.choices = choices

    def label_from_instance(self, user) -> str:
        name = staff_name(user)
        return name if name == user.username else f"{name} ({user.username})"


class HandOverForm(forms.Form):
    """Hand over (an agent) or reassign (a supervisor): to whom, and why."""

    to = ColleagueField(label="Colleague")
    note = _note_field("Note for them", "What they need to know to carry on.")

    def __init__(self, *args, offered: Callable[[], list[User]] = list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].offer(offered)


class CaseIdsField(forms.Field):
    """The case numbers ticked in the queue: at least one, at most
    ``BULK_LIMIT``, each a positive number (repeats count once)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        try:
            ids = list(dict.fromkeys(int(v) for v in values))
        except (TypeError, ValueError):
            raise forms.ValidationError("Those are not case numbers.", code="invalid") from None
        if any(pk < 1 for pk in ids):
            raise forms.ValidationError("Those are not case numbers.", code="invalid")
        if not ids:
            raise forms.ValidationError("Select at least one case.", code="required")
        if len(ids) > BULK_LIMIT:
            raise forms.ValidationError(
                f"Select at most {BULK_LIMIT} cases at a time (you selected {len(ids)}).",
                code="too_many")
        return ids


class BulkForm(forms.Form):
    """Cases ticked in the queue, and the queue's own query to return to."""

    cases = CaseIdsField()
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class BulkReassignForm(BulkForm):
    to = ColleagueField(label="Reassign to")
    note = _note_field("Note for them")

    def __init__(self, *args, offered: Callable[[], list[User]] = list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].offer(offered)


class ReviewFilterForm(forms.Form):
    """Which reviews of staff involvement to list."""

    state = forms.ChoiceField(required=False, label="State", choices=[
        ("open", "Open"), ("closed", "Closed"), ("all", "All")])


class CloseReviewForm(forms.Form):
    """Closing a review: shape only (``workflow.close_review`` decides)."""

    outcome = forms.ChoiceField(label="Outcome", choices=InvolvementReview.Outcome.choices,
                                widget=forms.RadioSelect)
    note = forms.CharField(
        label="Note", max_length=NOTE_MAX_LENGTH,
        help_text="Required. What you looked at and found; kept with the review and in the "
                  "audit trail.",
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTE_MAX_LENGTH}))


class PressureChecklistForm(forms.Form):
    """The pressure checklist the script ends with: the signs observed, or
    none observed (the workflow refuses neither and both)."""

    signs = forms.MultipleChoiceField(
        label="Signs of social engineering you observed", required=False,
        widget=forms.CheckboxSelectMultiple)
    none_observed = forms.BooleanField(label="None observed", required=False)
    note = forms.CharField(label="Note (optional)", required=False, max_length=500,
                           widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}))

    def __init__(self, *args, signs=(), **kwargs):
        kwargs.setdefault("auto_id", "id_pressure_%s")
        super().__init__(*args, **kwargs)
        self.fields["signs"].choices = [(sign.code, sign.label) for sign in signs]
