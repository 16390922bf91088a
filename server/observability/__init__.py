"""What operators watch: Prometheus metrics, request logs, readiness."""
