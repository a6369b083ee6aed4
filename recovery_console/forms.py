"""Forms validate shape only; rights, state and limits of what is recorded
(note and reason lengths) are the workflow's business, so that refusing them
is audited like any other refusal. Browsers still get ``maxlength``."""

from django import forms

from accounts.identifiers import validate_identifier
from accounts.models import Identity, RecoveryChannel

from .models import RecoveryCase, Tier
from .workflow import DOCUMENT_TYPES

SIX_DIGITS = forms.RegexField(
    regex=r"^\d{6}$", label="Code the caller reads out", max_length=6,
    error_messages={"invalid": "Enter the 6-digit code."},
    widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
)


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, label="Status",
        choices=[("open", "Open"), ("all", "All")] + list(RecoveryCase.State.choices),
    )
    tier = forms.ChoiceField(required=False, label="Tier",
                             choices=[("", "Any tier")] + list(Tier.choices))
    assigned = forms.ChoiceField(
        required=False, label="Assigned",
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")],
    )
    kind = forms.ChoiceField(required=False, label="Kind",
                             choices=[("", "Any kind")] + list(Identity.Kind.choices))


class SendCodeForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=RecoveryChannel.objects.none(), label="Registered channel",
        help_text="Only channels on file; never a number or address the caller gives.",
    )

    def __init__(self, *args, case: RecoveryCase, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = case.identity.channels.filter(
            kind__in=[RecoveryChannel.Kind.EMAIL, RecoveryChannel.Kind.PHONE],
            revoked_at__isnull=True,
        )


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

    def __init__(self, *args, case: RecoveryCase, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = case.identity.channels.filter(
            kind__in=[RecoveryChannel.Kind.EMAIL, RecoveryChannel.Kind.PHONE],
            revoked_at__isnull=True,
        )


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
