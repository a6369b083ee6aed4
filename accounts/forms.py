from django import forms

from .models import User
from .timezones import zone_names


def authenticator_code() -> forms.RegexField:
    """The 6-digit code from a staff member's authenticator app (sign-in, step-up)."""
    return forms.RegexField(
        label="Authenticator code",
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class StaffSignInForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(
        attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(max_length=256, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    otp_token = authenticator_code()


class StepUpForm(forms.Form):
    otp_token = authenticator_code()


def _zone_choices() -> list[tuple[str, str]]:
    return [("", "My browser's zone (UTC without JavaScript)")] + [
        (name, name.replace("_", " ")) for name in sorted(zone_names())]


class TimeZoneForm(forms.ModelForm):
    """A staff member's own time zone for the times pages show."""

    time_zone = forms.ChoiceField(
        choices=_zone_choices, required=False, label="Show times in",
        error_messages={"invalid_choice": "Choose a time zone from the list "
                                          "(for example Europe/Paris)."})

    class Meta:
        model = User
        fields = ["time_zone"]
