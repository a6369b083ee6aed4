"""Forms of the rollout's enforcement: the portal's password sign-in and a
security admin's resume of a paused wave (shape only: the decisions judge)."""

from django import forms

from accounts.forms import StaffSignInForm

from .enforcement import NOTE_MAX_LENGTH


class PortalPasswordSignInForm(StaffSignInForm):
    """Username, password and the code of the person's authenticator app."""


class ResumeWaveForm(forms.Form):
    # Required by the decision, not here: someone who may not resume is told
    # so, whatever they typed.
    note = forms.CharField(
        label="Why the wave may go on", required=False, max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What changed at the service desk. Kept in the audit trail.")
