"""Run metrics as CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs
turns into metrics, with no API call and no permission beyond writing logs.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

from typing import Any

from etl.contract import METRIC_DIMENSION as DIMENSION
from etl.contract import METRIC_NAMESPACE as NAMESPACE


def emf(job: str, timestamp_ms: int, values: dict[str, tuple[float, str]]) -> dict[str, Any]:
    """{name: (value, unit)} for `job` as an EMF document."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        DIMENSION: job,
        **{name: value for name, (value, _) in values.items()},
    }


def run_metrics(
    job: str,
    *,
    timestamp_ms: int,
    succeeded: bool,
    rows_loaded: int,
    rows_exported: int,
    duration_s: float,
) -> dict[str, Any]:  # fmt: skip
    """`Succeeded` is 1 or 0 for every run that got its lock, for dashboards and alarms a stack
    adds (the outcome alerts come from the state machine, which sees runs that never start)."""
    return emf(job, timestamp_ms, {
        "Succeeded": (1 if succeeded else 0, "Count"),
        "RowsLoaded": (rows_loaded, "Count"),
        "RowsExported": (rows_exported, "Count"),
        "DurationSeconds": (round(duration_s, 3), "Seconds"),
    })  # fmt: skip
