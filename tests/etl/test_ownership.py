"""A run deletes only what it owns (issue 19): its own run folder, under its job's name and a
prefix no other job of the stack shares, only while its lease on the lock holds, and scratch
folders it made itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from etl_harness import keys, manifest, one_table_job, put_csv, run_etl, run_root

from components.settings import ConfigError, parse_settings


def put_rows(s3: Any, bucket: str, rows: int) -> None:
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + "".join(f"{i},v{i}\n" for i in range(rows)))


# --- 1. jobs never share a run folder ---------------------------------------------------------


def test_two_jobs_on_one_output_prefix_keep_each_others_runs(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    """Same OUTPUT_PREFIX, same SCHEDULED_TIME, two JOB_NAMEs: the second run must not replace
    the first's manifest and parts (on main both wrote output/run=<time>/)."""
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 4)
    folder = str(one_table_job(tmp_path / "job"))
    for name in ("first", "second"):
        run = run_etl(db, database, bucket, endpoint, ETL_JOB=folder, JOB_NAME=name)
        assert run.returncode == 0, run.logs[-2:]
    for name in ("first", "second"):
        document = manifest(s3, bucket, run_root(name))
        assert document["job"] == "job"  # the folder's name; the run folder is JOB_NAME's
        [part] = document["exports"]["rows"]["files"]
        assert part["key"].startswith(run_root(name))
        assert part["key"] in keys(s3, bucket, run_root(name))


def job_config(prefixes: dict[str, str]) -> dict[str, Any]:
    jobs = {name: {"s3Prefix": prefix} for name, prefix in prefixes.items()}
    return {"image": {"build": {}}, "network": {"mode": "new"}, "jobs": jobs}


@pytest.mark.parametrize(
    ("prefixes", "overlap"),
    [
        ({"aa": "", "bb": ""}, ('jobs.bb.s3Prefix = ""', 'jobs.aa.s3Prefix = ""')),
        ({"aa": "team/", "bb": "team/eu/"}, ('jobs.bb.s3Prefix = "team/eu/"', '"team/"')),
        ({"aa": "eu/", "bb": ""}, ('jobs.bb.s3Prefix = ""', 'jobs.aa.s3Prefix = "eu/"')),
    ],
)
def test_overlapping_job_prefixes_are_refused_naming_both_keys(
    prefixes: dict[str, str], overlap: tuple[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(job_config(prefixes))
    message = str(caught.value)
    assert all(f"scheduled-etl:{key}" in message or key in message for key in overlap), message
    assert "overlaps" in message


def test_separate_job_prefixes_are_accepted() -> None:
    settings = parse_settings(job_config({"aa": "team/a/", "bb": "team/b/", "cc": "teamc/"}))
    assert sorted(settings.jobs) == ["aa", "bb", "cc"]
