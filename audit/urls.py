from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("charts/<slug:chart>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:pk>/", views.report, name="report"),
    path("reports/<int:pk>/print/", views.report_print, name="report_print"),
    path("reports/<int:pk>/export.csv", views.report_csv, name="report_csv"),
    path("reports/<int:pk>/cases/<int:case_id>/", views.sampled_case, name="sampled_case"),
]
