"""Background jobs: records, runners (in-process pool or Celery), schedule and watchdog."""
