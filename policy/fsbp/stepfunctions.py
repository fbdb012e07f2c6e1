"""StepFunctions.1: state machines have logging on.
https://docs.aws.amazon.com/securityhub/latest/userguide/stepfunctions-controls.html"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from fsbp.common import suppressed

STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
LEVELS = ("ALL", "ERROR", "FATAL")  # the control's default minimum is ERROR


def _logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STATE_MACHINE or suppressed(args.props, "StepFunctions.1"):
        return
    logging = args.props.get("loggingConfiguration") or {}
    if logging.get("level") not in LEVELS or not logging.get("logDestination"):
        report(
            "StepFunctions.1: the state machine logs nothing; set loggingConfiguration "
            f"(level one of {', '.join(LEVELS)}, a log group destination)",
            None,
        )
    if logging.get("includeExecutionData"):
        report("the state machine logs execution data (inputs and outputs of every state)", None)


POLICIES = [
    ResourceValidationPolicy(
        name="step-functions-state-machine-logging-enabled",
        description="StepFunctions.1: state machines log at ERROR or more, without data",
        validate=_logging,
    ),
]
