from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from . import views
from .ops import views as ops_views
from .restore import views as restore_views
from .views import reviews as review_views
from .views import velocity as velocity_views
from .views import watch as watch_views

# The admin (tiers, scripts, policies) asks for the same second factor as every staff page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Recovery Console administration"

recovery_patterns = (
    [
        path("queue/", views.queue, name="queue"),
        path("cases/open/", views.open_case, name="open_case"),
        path("cases/<int:pk>/", views.case_detail, name="case"),
        path("cases/<int:pk>/claim/", views.claim, name="claim"),
        path("cases/<int:pk>/unclaim/", views.unclaim, name="unclaim"),
        path("cases/<int:pk>/steps/<int:step_pk>/", views.step_action, name="step"),
        path("cases/<int:pk>/request-approval/", views.request_approval,
             name="request_approval"),
        path("cases/<int:pk>/issue/", views.issue_credential, name="issue"),
        path("cases/<int:pk>/credentials/<int:credential_pk>/", views.issued, name="issued"),
        path("cases/<int:pk>/watch/", views.case_watch, name="case_watch"),
        path("cases/<int:pk>/restore/read-out/", restore_views.read_out,
             name="restore_read_out"),
        path("cases/<int:pk>/fail/", views.fail, name="fail"),
        path("cases/<int:pk>/escalate/", views.escalate, name="escalate"),
        path("cases/<int:pk>/rotation/", views.record_rotation, name="rotation"),
        path("cases/<int:pk>/cancel/", views.cancel, name="cancel"),
        path("cases/<int:pk>/notes/", views.add_note, name="add_note"),
        path("cases/<int:pk>/pressure/", velocity_views.pressure_checklist,
             name="pressure_checklist"),
        path("cases/<int:pk>/release/", velocity_views.release_issue, name="release_issue"),
        path("cases/<int:pk>/hand-over/", views.hand_over, name="hand_over"),
        path("cases/<int:pk>/reassign/", views.reassign, name="reassign"),
        path("cases/<int:pk>/lost-device-review/", views.review_lost_device,
             name="review_lost_device"),
        path("queue/give-back/", views.give_back_selected, name="give_back_selected"),
        path("queue/reassign/", views.reassign_selected, name="reassign_selected"),
        path("approvals/", views.approvals, name="approvals"),
        path("approvals/<int:pk>/", views.decide, name="decide"),
        path("outbox/", views.outbox, name="outbox"),
        path("attest/<str:token>/", views.attestation, name="attestation"),
        path("recover/", views.self_service_request, name="self_service"),
        path("code/", views.redeem_read_out, name="redeem_read_out"),
        path("recover/enrol/", views.enrol, name="enrol"),
        path("recover/enrol/options/", views.enrol_options, name="enrol_options"),
        path("recover/enrol/verify/", views.enrol_verify, name="enrol_verify"),
        path("recover/done/", views.recovered, name="recovered"),
        path("recover/not-me/<str:token>/", watch_views.repudiate, name="repudiate"),
        path("recover/<str:handle>/", views.redeem, name="redeem"),
        path("security/alerts/", watch_views.alert_list, name="alerts"),
        path("security/alerts/acknowledge/", watch_views.alerts_acknowledge,
             name="alerts_acknowledge"),
        path("security/alerts/<int:pk>/allow/", velocity_views.allow_recovery,
             name="allow_recovery"),
        path("security/channels/stale/", watch_views.stale_channels, name="stale_channels"),
        path("security/reviews/", review_views.review_list, name="reviews"),
        path("security/reviews/<int:pk>/", review_views.review_detail, name="review"),
    ],
    "recovery",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("accounts.urls")),
    path("", include(recovery_patterns)),
    path("", include("recovery_console.rollout.invitation_urls")),
    path("", include("recovery_console.rollout.urls_enforcement")),
    path("audit/", include("audit.urls")),
    path("rollout/", include("recovery_console.rollout.urls")),
    path("admin/", admin.site.urls),
    path("scim/v2/", include("recovery_console.directory.scim.urls")),
    path("idv/", include("recovery_console.idv.urls")),
    path("events/", include("recovery_console.signin_events.urls")),
    path("oidc/", include("recovery_console.oidc.urls")),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.prometheus, name="metrics"),
]
