"""The ETL job: S3 CSV -> MySQL (the task's sidecar) -> SQL transforms -> gzip CSV in S3."""
