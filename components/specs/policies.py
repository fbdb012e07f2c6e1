"""IAM policy documents, built as plain dicts (pure; json.dumps them into resources).

Rules kept here: no `*` in any allowed action, every allowed resource is an ARN of this stack
(one named exception: ecs:ListTasks, which AWS authorizes on `*`, scoped by `ecs:cluster`),
and trust policies name one service principal. docs/authorization.md lists every call each
role makes and the statement that allows it.
"""

from __future__ import annotations

from typing import Any

Policy = dict[str, Any]
VERSION = "2012-10-17"


def trust_policy(service: str, source_account: str | None = None) -> Policy:
    """Who may assume a role. With `source_account`, only that account's resources may act
    through the service (confused-deputy protection)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {"Version": VERSION, "Statement": [statement]}


def read_secret_policy(secret_arn: str) -> Policy:
    """What the ECS agent needs to inject this job's secret into the containers."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ReadJobSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
            }
        ],
    }


def bucket_read_write_policy(bucket_arn: str, prefix: str = "") -> Policy:
    """CDK's `grantReadWrite`, spelled out action by action and limited to `prefix`."""
    listing: dict[str, Any] = {
        "Sid": "ListJobKeys",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    return {
        "Version": VERSION,
        "Statement": [
            listing,
            {
                "Sid": "BucketMetadata",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                "Resource": bucket_arn,
            },
            {
                "Sid": "ReadWriteJobObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                    "s3:GetObjectTagging",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                ],
                "Resource": f"{bucket_arn}/{prefix}*",
            },
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> Policy:
    """Deny every request to a created bucket that does not use TLS."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                # A Deny may be broad: it only ever takes access away.
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def scheduler_policy(state_machine_arns: list[str], dead_letter_queue_arn: str) -> Policy:
    """What EventBridge Scheduler needs to start this job's workflows, and nothing else."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "StartJobWorkflows",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": state_machine_arns,
            },
            {
                # Scheduler sends undeliverable invocations to the DLQ with this role.
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": dead_letter_queue_arn,
            },
        ],
    }


def run_machine_policy(
    task_definition_family_arn: str,
    cluster_arn: str,
    pass_role_arns: list[str],
    topic_arn: str,
) -> Policy:
    """The run state machine: start, watch and stop this job's tasks in this cluster, the
    managed rule `.sync` uses, and the alerts topic.
    https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html"""
    head, _, cluster = cluster_arn.partition(":cluster/")
    in_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
    partition, region, account = head.split(":")[1], head.split(":")[3], head.split(":")[4]
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "RunJobTask",
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": [task_definition_family_arn, f"{task_definition_family_arn}:*"],
                "Condition": in_cluster,
            },
            {
                # RunTask with propagateTags needs TagResource on the new task.
                "Sid": "TagJobTaskOnLaunch",
                "Effect": "Allow",
                "Action": "ecs:TagResource",
                "Resource": f"{head}:task/{cluster}/*",
                "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
            },
            {
                "Sid": "WatchAndStopTasks",
                "Effect": "Allow",
                "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
                "Resource": f"{head}:task/{cluster}/*",
                "Condition": in_cluster,
            },
            {
                # Finding a timed-out task. AWS authorizes ListTasks against resource `*`, and the
                # ecs:cluster condition key is what scopes it to this cluster: see the denial
                # quoted in https://github.com/cdklabs/construct-hub/pull/1207 ("not authorized to
                # perform: ecs:ListTasks on resource: *"). The Service Authorization Reference's
                # `container-instance` resource type for ListTasks is misleading for this call:
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
                # The one allowed `*` resource of this file, named in tests/infra/test_security.py.
                "Sid": "FindTimedOutTask",
                "Effect": "Allow",
                "Action": "ecs:ListTasks",
                "Resource": "*",
                "Condition": in_cluster,
            },
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": pass_role_arns,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
            {
                "Sid": "SyncRule",
                "Effect": "Allow",
                "Action": ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                "Resource": f"arn:{partition}:events:{region}:{account}:rule/"
                "StepFunctionsGetEventsForECSTaskRule",
            },
            {"Sid": "Alert", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
        ],
    }


def watchdog_policy(run_machine_arn: str, topic_arn: str) -> Policy:
    """The watchdog: list and read the run state machine's executions, and alert. (IAM lists
    each action's resource types as alternatives, map runs and express executions too; they are
    named here for this state machine only.)"""
    head, _, machine = run_machine_arn.partition(":stateMachine:")
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ListRuns",
                "Effect": "Allow",
                "Action": "states:ListExecutions",
                "Resource": [run_machine_arn, f"{head}:mapRun:{machine}/*"],
            },
            {
                "Sid": "ReadRuns",
                "Effect": "Allow",
                "Action": "states:DescribeExecution",
                "Resource": [f"{head}:execution:{machine}:*", f"{head}:express:{machine}:*"],
            },
            {"Sid": "Alert", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
        ],
    }


def operator_policy(  # noqa: PLR0917 (one ARN per resource kind, like run_machine_policy)
    run_machine_arns: list[str],
    task_definition_family_arn: str,
    cluster_arn: str,
    pass_role_arns: list[str],
    bucket_arn: str,
    prefixes: tuple[str, str],
) -> Policy:
    """What a person needs for tools/ on one job, not deployed by the stack (attach it to an
    operator's role): tools.run_now starts and follows runs, the `run_task_command` output
    starts a task by hand, `python -m etl runs|show|unlock` read the run folders and release
    the lock, `python -m etl.sample --bucket` uploads sample inputs. `prefixes`: the job's
    (input, output) prefixes. docs/authorization.md prints it for one job."""
    input_prefix, output_prefix = prefixes
    # Standard executions; the express form is named too, as in watchdog_policy (IAM lists
    # both resource types for DescribeExecution).
    executions = [
        m.replace(":stateMachine:", kind) + ":*"
        for m in run_machine_arns
        for kind in (":execution:", ":express:")
    ]
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "StartRuns",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": run_machine_arns,
            },
            {
                "Sid": "FollowRuns",
                "Effect": "Allow",
                "Action": "states:DescribeExecution",
                "Resource": executions,
            },
            {
                "Sid": "RunTaskByHand",
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": [task_definition_family_arn, f"{task_definition_family_arn}:*"],
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
            {
                # The command propagates the task definition's tags and adds managed tags:
                # ECS then authorizes TagResource on the new task (as for the run machine).
                "Sid": "TagTaskOnLaunch",
                "Effect": "Allow",
                "Action": "ecs:TagResource",
                "Resource": f"{cluster_arn.replace(':cluster/', ':task/')}/*",
                "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
            },
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": pass_role_arns,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
            {
                "Sid": "ListRunFolders",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{output_prefix}*"]}},
            },
            {
                "Sid": "ReadRunFolders",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{output_prefix}*",
            },
            {
                "Sid": "UploadSampleInputs",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
                "Resource": f"{bucket_arn}/{input_prefix}*",
            },
            {
                "Sid": "ReleaseLock",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": f"{bucket_arn}/{output_prefix}_locks/*",
            },
        ],
    }
