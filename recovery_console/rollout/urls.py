from . import urls_reports

app_name = "rollout"
urlpatterns = [
    *urls_reports.urlpatterns,
]
