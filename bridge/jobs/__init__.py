"""Jobs: one interface (:mod:`bridge.jobs.backend`) over two queues, the embedded one (SQLite, leases,
retries; :mod:`bridge.jobs.store`) and Celery (:mod:`bridge.jobs.celery_backend`, job records in Redis:
:mod:`bridge.jobs.registry`); the job code both run (:mod:`bridge.jobs.worker`) and their metrics
(:mod:`bridge.jobs.metrics`)."""
