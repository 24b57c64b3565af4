"""The WSGI entry point: builds the app and nothing else."""

from bridge import create_app

app = create_app()
