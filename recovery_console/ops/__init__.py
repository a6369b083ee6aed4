"""What an operator needs: health and readiness probes, Prometheus metrics,
JSON logs with request and case correlation ids, and the gunicorn config."""
