from django import forms


class StaffSignInForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(
        attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(max_length=256, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password"}))
    otp_token = forms.RegexField(
        label="Authenticator code",
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class StepUpForm(forms.Form):
    otp_token = forms.RegexField(
        label="Authenticator code",
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
