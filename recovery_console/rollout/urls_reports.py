"""Readiness reports, under the rollout's prefix (rollout/urls.py takes these in)."""

from django.urls import path

from . import report_views

urlpatterns = [
    path("readiness/", report_views.readiness, name="readiness"),
    path("readiness/<slug:chart>.csv", report_views.readiness_csv, name="readiness_csv"),
]
