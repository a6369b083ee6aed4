"""The product's URLs plus the baseline (bench settings only)."""

from django.urls import path

from recovery_console.urls import urlpatterns as product_urlpatterns

from . import baseline

urlpatterns = [
    *product_urlpatterns,
    path("bench/baseline/", baseline.baseline, name="bench_baseline"),
]
