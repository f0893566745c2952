"""The run queue shared by the API and the workers: the Celery app, publishing, broker health
and inspection. Named runqueue, not queue, so that it never shadows the standard library."""
