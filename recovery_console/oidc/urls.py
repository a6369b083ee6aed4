"""The provider's endpoints under /oidc/ (the issuer), named as
django-oauth-toolkit reverses them for its discovery document. Its
application-management pages and dynamic registration are not served:
applications are registered in the admin."""

from django.urls import path, re_path
from oauth2_provider import views as dot

from .views import ProviderAuthorizationView, ProviderDiscoveryView

app_name = "oauth2_provider"
urlpatterns = [
    path("authorize/", ProviderAuthorizationView.as_view(), name="authorize"),
    path("token/", dot.TokenView.as_view(), name="token"),
    path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
    re_path(r"^\.well-known/openid-configuration$", ProviderDiscoveryView.as_view(),
            name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
]
