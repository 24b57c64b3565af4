"""gunicorn settings for production; each can be overridden with GUNICORN_CMD_ARGS."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Requests are short (verify, one transaction, enqueue): sync workers, about 2 per core.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
timeout = 30
graceful_timeout = 30
# The Pagos360 token is part of its URL, and the delivery log's searches (phone numbers,
# emails) are in query strings, so the access log leaves the request line out: no path, no
# query, no referrer. The bridge's own log names each request's route pattern instead.
# `make run` starts gunicorn with this file too (bridge.ops.runner), bound to one address.
# Behind nginx (deploy/nginx/bridge.conf) the peer is nginx: the client is the last
# X-Forwarded-For entry.
accesslog = "-"
access_log_format = '%(h)s "%({x-forwarded-for}i)s" %({x-forwarded-proto}i)s %(m)s %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Prometheus multiprocess mode: the master sets PROMETHEUS_MULTIPROC_DIR from METRICS_DIR
# before forking, removes stale metric files at start and a dead worker's live gauges.
# Imported when called: this file is read before gunicorn's --chdir puts the app on sys.path.
def on_starting(server):
    from bridge.metrics.gunicorn_hooks import on_starting

    on_starting(server)


def child_exit(server, worker):
    from bridge.metrics.gunicorn_hooks import child_exit

    child_exit(server, worker)
