"""The rollout's pages, mounted at /rollout/. Other rollout pages add their
own url modules (or lines here)."""

from django.urls import path

from . import urls_reports, views

app_name = "rollout"

urlpatterns = [
    path("", views.plan_list, name="plans"),
    path("plans/new/", views.plan_edit, name="plan_new"),
    path("plans/<int:pk>/", views.plan_detail, name="plan"),
    path("plans/<int:pk>/edit/", views.plan_edit, name="plan_edit"),
    path("plans/<int:pk>/waves/", views.wave_add, name="wave_add"),
    path("plans/<int:pk>/waves/order/", views.wave_order, name="wave_order"),
    path("cohorts/", views.cohort_list, name="cohorts"),
    path("cohorts/new/", views.cohort_edit, name="cohort_new"),
    path("cohorts/<int:pk>/", views.cohort_edit, name="cohort_edit"),
    path("waves/<int:pk>/", views.wave_detail, name="wave"),
    path("waves/<int:pk>/move/", views.wave_move, name="wave_move"),
    path("waves/<int:pk>/pilot/", views.wave_pilot, name="wave_pilot"),
    path("waves/<int:pk>/exceptions/", views.exception_add, name="exception_add"),
    path("exceptions/<int:pk>/end/", views.exception_end, name="exception_end"),
    *urls_reports.urlpatterns,
]
