"""`python -m components.run_now` against moto's ECS and CloudWatch Logs (in-process)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_models import errors
from moto import mock_aws

from components import run_now
from components.containers import TaskInputs, container_definitions
from components.schedule import run_task_command, run_task_request
from components.settings import parse_settings

REGION = "eu-west-1"
GROUP = "/ecs/scheduled-etl-dev-monthly-orders"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        yield


def deploy(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """What `pulumi up` would have created, in moto, and the stack outputs it would export."""
    job = parse_settings({"image": {"build": {}}, "jobs": {"monthly-orders": {}}}).jobs[
        "monthly-orders"
    ]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as our VPCs have
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="t", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name=REGION)
    cluster = ecs.create_cluster(clusterName="scheduled-etl-dev-cluster")["cluster"]["clusterName"]
    inputs = TaskInputs(app_image="app:1.0.0", log_group=GROUP, region=REGION, bucket="b",
                        secret_arn=f"arn:aws:secretsmanager:{REGION}:123456789012:secret:s",
                        job_name="scheduled-etl-dev-monthly-orders")  # fmt: skip
    task_definition = ecs.register_task_definition(
        family="scheduled-etl-dev-monthly-orders", requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc", cpu="1024", memory="2048",
        # moto sums container-level memory to place tasks; Fargate does not need it.
        containerDefinitions=[{**c, "memory": 1024} for c in container_definitions(job, inputs)],
    )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
    request = run_task_request(job, cluster=cluster, task_definition_arn=task_definition,
                               subnet_ids=[subnet], security_group_ids=[group],
                               assign_public_ip=False)  # fmt: skip
    outputs = {"jobs": {"monthly-orders": {
        "run_task": request, "run_task_command": run_task_command(request, REGION),
        "log_group_name": GROUP, "task_definition_arn": task_definition}}}  # fmt: skip
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path, outputs


def test_run_now_starts_waits_and_reports(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs_file, outputs = deploy(tmp_path)
    ecs = boto3.client("ecs", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    result: dict[str, int] = {}
    runner = threading.Thread(target=lambda: result.update(code=run_now.main(
        ["monthly-orders", "--outputs", str(outputs_file), "--scheduled-time",
         "2026-11-01T04:00:00Z", "--poll-seconds", "1", "--timeout-seconds", "60"])))  # fmt: skip
    runner.start()
    deadline = time.monotonic() + 30
    while not (arns := ecs.list_tasks(cluster="scheduled-etl-dev-cluster")["taskArns"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    task_id = arns[0].rsplit("/", 1)[-1]
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=f"app/app/{task_id}")
    event = {"timestamp": int(time.time() * 1000), "message": '{"event": "run_succeeded"}'}
    logs.put_log_events(logGroupName=GROUP, logStreamName=f"app/app/{task_id}", logEvents=[event])
    runner.join(timeout=60)

    printed = capsys.readouterr().out
    assert "SCHEDULED_TIME=2026-11-01T04:00:00Z" in printed
    assert f"app log: group {GROUP}, stream app/app/{task_id}" in printed
    assert '{"event": "run_succeeded"}' in printed
    assert "STOPPED" in printed
    assert result["code"] == 0

    [task] = ecs.describe_tasks(cluster="scheduled-etl-dev-cluster", tasks=arns)["tasks"]
    overrides = task["overrides"]["containerOverrides"]
    assert overrides == [{"name": "app", "environment": [
        {"name": "SCHEDULED_TIME", "value": "2026-11-01T04:00:00Z"}]}]  # fmt: skip
    request = outputs["jobs"]["monthly-orders"]["run_task"]
    assert task["taskDefinitionArn"] == request["taskDefinition"]
    assert errors({**request, "overrides": task["overrides"]}, "ecs", "RunTask") == ""


def test_unknown_job_names_the_ones_there_are(aws: Any, tmp_path: Path) -> None:
    outputs_file, _ = deploy(tmp_path)
    with pytest.raises(SystemExit):
        run_now.main(["nightly", "--outputs", str(outputs_file)])
