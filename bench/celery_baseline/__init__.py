"""The Celery + Beat + Redis baseline that wheels-jobs replaces (benchmark only: needs the `bench` extra)."""
