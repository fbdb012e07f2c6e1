"""Step Functions execution logging (FSBP StepFunctions.1), pure: the log group's name, the
state machine's logging configuration and the permissions its role needs to deliver logs.

ERROR level: failed and aborted executions are recorded with their cause, nothing of a
successful run. No execution data: a state's input and output carry the task's environment
overrides and the watchdog's lookups, which belong in the run's own records, not in a log.
https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
"""

from __future__ import annotations

from typing import Any

DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html"
LEVEL = "ERROR"
# Log groups for vended logs under /aws/vendedlogs/ keep CloudWatch Logs' resource policy from
# growing with each group (the policy's 5,120-character limit): same page, "Log group name".
PREFIX = "/aws/vendedlogs/states/"
# CloudWatch Logs' log delivery APIs have no resource-level permissions: Step Functions' guide
# gives exactly these actions on "*" (same page, "IAM policies for logging to CloudWatch Logs").
# A named exception to "every allowed resource is an ARN of this stack".
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
]


def log_group_name(state_machine_name: str) -> str:
    """The state machine's own log group."""
    return f"{PREFIX}{state_machine_name}"


def logging_configuration(log_group_arn: str) -> dict[str, Any]:
    """The StateMachine's `logging_configuration` (the provider's snake_case keys). The
    destination is the group's ARN ending in `:*`, as CreateStateMachine requires."""
    destination = log_group_arn if log_group_arn.endswith(":*") else f"{log_group_arn}:*"
    return {
        "level": LEVEL,
        "include_execution_data": False,
        "log_destination": destination,
    }


def log_delivery_policy() -> dict[str, Any]:
    """The inline policy a state machine's role needs for the configuration above."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StepFunctionsLogDelivery",
                "Effect": "Allow",
                "Action": LOG_DELIVERY_ACTIONS,
                "Resource": "*",
            }
        ],
    }
