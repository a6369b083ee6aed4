from django.shortcuts import redirect, render

from accounts.roles import Role, roles_of, staff_required


def home(request):
    """Send each person to the page their role starts from."""
    if not request.user.is_authenticated or not request.user.is_verified():
        return redirect("accounts:sign_in")
    if roles_of(request.user) == {Role.SECURITY_ADMIN}:
        return redirect("admin:index")
    return redirect("recovery:queue")


@staff_required(Role.AGENT, Role.SUPERVISOR, Role.AUDITOR)
def queue(request):
    return render(request, "recovery/queue.html", {"cases": []})
