from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from . import views

# The admin (tiers, scripts, policies) asks for the same second factor as every staff page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Recovery Console administration"

recovery_patterns = (
    [
        path("queue/", views.queue, name="queue"),
    ],
    "recovery",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("accounts.urls")),
    path("", include(recovery_patterns)),
    path("admin/", admin.site.urls),
]
