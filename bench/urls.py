"""The product's URLs plus the baseline (bench settings only)."""

from django.urls import path

from recovery_console.urls import urlpatterns as product_urlpatterns

from . import baseline

urlpatterns = [
    *product_urlpatterns,
    path("bench/baseline/", baseline.baseline, name="bench_baseline"),
    path("bench/baseline/signed-in/", baseline.signed_in_baseline,
         name="bench_signed_in_baseline"),
]
