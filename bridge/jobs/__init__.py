"""Jobs: the embedded queue (SQLite, leases, retries; :mod:`bridge.jobs.store`) and its workers
(:mod:`bridge.jobs.worker`)."""
