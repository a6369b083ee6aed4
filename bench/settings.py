"""Settings for ``make bench``: production settings, plus the bare-Django
baseline URL. Used only by the benchmarks; the product's URLs are unchanged."""

import os

from recovery_console.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# How many generated identities the baseline picks from.
BENCH_IDENTITIES = int(os.environ.get("BENCH_IDENTITIES", "1000"))
# All load comes from one loopback address; the per-address redemption limit
# (20 per 15 minutes) would refuse every request after the 20th. The
# per-credential limit, and the counting itself (a Redis round trip per
# attempt), stay as in production.
RATE_LIMIT_REDEMPTIONS_PER_ADDRESS = 10**9
# Collected static files of the benchmark run, outside the checkout.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", "/tmp/recovery-bench-static")  # noqa: S108
