"""gunicorn settings for production; each can be overridden with GUNICORN_CMD_ARGS."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Requests are short (verify, one transaction, enqueue): sync workers, about 2 per core.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
timeout = 30
graceful_timeout = 30
# The Pagos360 token is part of its URL, so the access log leaves paths out; the
# bridge's own log names each rejected request's route pattern instead.
accesslog = "-"
access_log_format = "%(h)s %(m)s %(s)s %(b)s %(L)ss"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
