"""gunicorn settings of the peer project: the values of the console's
(recovery_console/ops/gunicorn.py) that shape how requests are served, copied
(the console's file imports the console): workers, threads, timeout, worker
recycling. tests/bench/test_peer.py checks they stay the same. No access log,
as the console; the peer writes no request log line of its own."""

import os

bind = f"{os.environ.get('BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT_SECONDS", "30"))
graceful_timeout = timeout
# Each worker is replaced after about 2000 requests (any slow leak stays bounded);
# 0 never replaces one (make bench: see BENCHMARKS.md, "How it is measured").
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = None
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
