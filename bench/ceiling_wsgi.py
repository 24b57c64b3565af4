"""The bridge's app with one route more, for the ingest benchmark's ceiling (bench/ingest.py).

`POST /bench/accepted` answers 202 and does nothing else: what gunicorn, Flask and the
app's own request hooks cost before any webhook work. It lives here, not in the product,
and is served with the same gunicorn config, in the same processes as the real endpoint.
"""

from bench.ingest import CEILING_PATH
from bridge import create_app

app = create_app()


@app.post(CEILING_PATH)
def accepted() -> tuple[str, int]:
    return "", 202
