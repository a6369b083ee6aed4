from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .auth import SignInRefused, sign_in_staff
from .forms import StaffSignInForm


def safe_next(request, default: str = "/") -> str:
    """The ``next`` target if it stays on this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@require_http_methods(["GET", "POST"])
def sign_in(request):
    form = StaffSignInForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                sign_in_staff(request, **form.cleaned_data)
            except SignInRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                return redirect(safe_next(request))
        status = 400
    context = {"form": form, "next": safe_next(request, "")}
    return render(request, "accounts/sign_in.html", context, status=status)


@require_POST
def sign_out(request):
    logout(request)
    return redirect("accounts:sign_in")
