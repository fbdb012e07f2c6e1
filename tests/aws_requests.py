"""Every resource type the program declares, as the AWS API request(s) that create it.

`REQUESTS` maps a Pulumi type token to a function of the registered resource (its inputs
under the mock engine) returning `(service, operation, params)` requests for botocore's models
(tests/aws_models.py validates them strictly). Adding a resource type to the program means
adding one entry here (or to NOT_AWS / OPAQUE with the reason): tests/test_aws_validation.py
fails for any declared type that is in none of them.

Where the provider (Terraform AWS) computes a value the request needs, the translators use
what it would send: auto-names are `<logical name>-<7 random characters>` (Pulumi's default
autonaming), `name_prefix` gets 26 characters (Terraform's unique-ID suffix), target IDs are
`terraform-` and 26 characters. IDs of other resources are the mock's placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_models import _ints, create_schedule_params, register_task_definition_params

from components.offline import REGION, Registered

Request = tuple[str, str, dict[str, Any]]

AUTONAME_SUFFIX = "-a1b2c3d"  # Pulumi autonaming: name + '-' + 7 random characters
PREFIX_SUFFIX = "2030010100000000000000001a"  # Terraform's 26-character unique suffix
TARGET_ID = f"terraform-{PREFIX_SUFFIX}"  # the provider's generated target_id


def physical_name(resource: Registered, key: str = "name") -> str:
    """The name AWS sees: the declared one, or the logical name with Pulumi's suffix."""
    declared = resource.inputs.get(key)
    if declared:
        return str(declared)
    prefix = resource.inputs.get(f"{key}Prefix")
    if prefix:
        return f"{prefix}{PREFIX_SUFFIX}"
    return f"{resource.name}{AUTONAME_SUFFIX}"


def _pascal_keys(value: dict[str, Any]) -> dict[str, Any]:
    return {k[:1].upper() + k[1:]: v for k, v in value.items()}


def _cluster(r: Registered) -> list[Request]:
    params = {"clusterName": physical_name(r), **_ints(r.inputs)}
    params.pop("name", None)
    return [("ecs", "CreateCluster", params)]


def _capacity(r: Registered) -> list[Request]:
    i = _ints(r.inputs)
    return [("ecs", "PutClusterCapacityProviders", {
        "cluster": i["clusterName"],
        "capacityProviders": i["capacityProviders"],
        "defaultCapacityProviderStrategy": [
            _capacity_item(s) for s in i.get("defaultCapacityProviderStrategies", [])],
    })]  # fmt: skip


def _capacity_item(strategy: dict[str, Any]) -> dict[str, Any]:
    return {"capacityProvider": strategy["capacityProvider"], **{
        k: strategy[k] for k in ("weight", "base") if k in strategy}}  # fmt: skip


def _task_definition(r: Registered) -> list[Request]:
    return [("ecs", "RegisterTaskDefinition", register_task_definition_params(r.inputs))]


def _schedule(r: Registered) -> list[Request]:
    return [("scheduler", "CreateSchedule", create_schedule_params(r.inputs))]


def _state_machine(r: Registered) -> list[Request]:
    params = {"name": physical_name(r), "definition": r.inputs["definition"],
              "roleArn": r.inputs["roleArn"], "type": r.inputs.get("type", "STANDARD")}  # fmt: skip
    return [("stepfunctions", "CreateStateMachine", params)]


def _log_group(r: Registered) -> list[Request]:
    name = physical_name(r)
    requests: list[Request] = [("logs", "CreateLogGroup", {"logGroupName": name})]
    if "retentionInDays" in r.inputs:
        days = int(r.inputs["retentionInDays"])
        requests.append(
            ("logs", "PutRetentionPolicy", {"logGroupName": name, "retentionInDays": days})
        )
    return requests


def _secret(r: Registered) -> list[Request]:
    params = {"Name": physical_name(r)}
    if "description" in r.inputs:
        params["Description"] = r.inputs["description"]
    return [("secretsmanager", "CreateSecret", params)]


def _secret_version(r: Registered) -> list[Request]:
    secret = r.inputs["secretString"]
    plaintext = secret["value"] if isinstance(secret, dict) else secret  # a Pulumi secret
    return [("secretsmanager", "PutSecretValue", {
        "SecretId": r.inputs["secretId"], "SecretString": plaintext})]  # fmt: skip


def _role(r: Registered) -> list[Request]:
    params = {
        "RoleName": physical_name(r),
        "AssumeRolePolicyDocument": r.inputs["assumeRolePolicy"],
    }
    for key, member in (("description", "Description"), ("path", "Path")):
        if key in r.inputs:
            params[member] = r.inputs[key]
    return [("iam", "CreateRole", params)]


def _role_policy(r: Registered) -> list[Request]:
    return [("iam", "PutRolePolicy", {"RoleName": r.inputs["role"],
        "PolicyName": physical_name(r), "PolicyDocument": r.inputs["policy"]})]  # fmt: skip


def _attachment(r: Registered) -> list[Request]:
    return [("iam", "AttachRolePolicy", {
        "RoleName": r.inputs["role"], "PolicyArn": r.inputs["policyArn"]})]  # fmt: skip


def _queue(r: Registered) -> list[Request]:
    attributes = {
        "SqsManagedSseEnabled": "sqsManagedSseEnabled",
        "MessageRetentionPeriod": "messageRetentionSeconds",
        "VisibilityTimeout": "visibilityTimeoutSeconds",
        "DelaySeconds": "delaySeconds",
        "MaximumMessageSize": "maxMessageSize",
        "ReceiveMessageWaitTimeSeconds": "receiveWaitTimeSeconds",
        "Policy": "policy",
    }
    values = {
        attribute: _attribute(r.inputs[key])
        for attribute, key in attributes.items()
        if key in r.inputs
    }
    return [("sqs", "CreateQueue", {"QueueName": physical_name(r), "Attributes": values})]


def _attribute(value: Any) -> str:
    """SQS and SNS take every attribute as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_ints(value))


def _topic(r: Registered) -> list[Request]:
    return [("sns", "CreateTopic", {"Name": physical_name(r)})]


def _topic_policy(r: Registered) -> list[Request]:
    return [("sns", "SetTopicAttributes", {"TopicArn": r.inputs["arn"],
        "AttributeName": "Policy", "AttributeValue": r.inputs["policy"]})]  # fmt: skip


def _subscription(r: Registered) -> list[Request]:
    i = r.inputs
    return [("sns", "Subscribe", {
        "TopicArn": i["topic"], "Protocol": i["protocol"], "Endpoint": i["endpoint"]})]  # fmt: skip


def _rule(r: Registered) -> list[Request]:
    params = {"Name": physical_name(r)}
    for key in ("description", "eventPattern", "scheduleExpression", "state", "roleArn"):
        if key in r.inputs:
            params[key[:1].upper() + key[1:]] = r.inputs[key]
    return [("events", "PutRule", params)]


def _event_target(r: Registered) -> list[Request]:
    i = r.inputs
    target: dict[str, Any] = {"Id": i.get("targetId", TARGET_ID), "Arn": i["arn"]}
    if "inputTransformer" in i:
        transformer = i["inputTransformer"]
        target["InputTransformer"] = {
            "InputPathsMap": transformer.get("inputPaths", {}),
            "InputTemplate": transformer["inputTemplate"],
        }
    for key in ("input", "inputPath", "roleArn"):
        if key in i:
            target[key[:1].upper() + key[1:]] = i[key]
    return [("events", "PutTargets", {"Rule": i["rule"], "Targets": [target]})]


def _alarm(r: Registered) -> list[Request]:
    i = _ints(r.inputs)
    params = {"AlarmName": physical_name(r)}
    renamed = {"alarmActions": "AlarmActions", "okActions": "OKActions",
               "insufficientDataActions": "InsufficientDataActions"}  # fmt: skip
    for key, value in i.items():
        if key == "name":
            continue
        if key == "dimensions":
            params["Dimensions"] = [{"Name": k, "Value": v} for k, v in value.items()]
        else:
            params[renamed.get(key, key[:1].upper() + key[1:])] = value
    return [("cloudwatch", "PutMetricAlarm", params)]


def _bucket_name(r: Registered) -> str:
    return str(r.inputs["bucket"]).removesuffix("-id")  # the mock's ID of a bucket is its name


def _bucket(r: Registered) -> list[Request]:
    return [("s3", "CreateBucket", {"Bucket": physical_name(r, "bucket"),
        "CreateBucketConfiguration": {"LocationConstraint": REGION}})]  # fmt: skip


def _public_access_block(r: Registered) -> list[Request]:
    flags = {k: v for k, v in r.inputs.items() if k != "bucket"}
    return [("s3", "PutPublicAccessBlock", {"Bucket": _bucket_name(r),
        "PublicAccessBlockConfiguration": _pascal_keys(flags)})]  # fmt: skip


def _ownership(r: Registered) -> list[Request]:
    rule = _pascal_keys(r.inputs["rule"])
    return [("s3", "PutBucketOwnershipControls", {"Bucket": _bucket_name(r),
        "OwnershipControls": {"Rules": [rule]}})]  # fmt: skip


def _pascal_deep(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_pascal_deep(v, names) for v in value]
    if isinstance(value, dict):
        return {names.get(k, k[:1].upper() + k[1:]): _pascal_deep(v, names)
                for k, v in value.items()}  # fmt: skip
    return _ints(value)


def _encryption(r: Registered) -> list[Request]:
    rules = _pascal_deep(r.inputs["rules"], {"sseAlgorithm": "SSEAlgorithm",
                                              "kmsMasterKeyId": "KMSMasterKeyID"})  # fmt: skip
    return [("s3", "PutBucketEncryption", {"Bucket": _bucket_name(r),
        "ServerSideEncryptionConfiguration": {"Rules": rules}})]  # fmt: skip


def _lifecycle(r: Registered) -> list[Request]:
    rules = _pascal_deep(r.inputs["rules"], {"id": "ID"})
    return [("s3", "PutBucketLifecycleConfiguration", {"Bucket": _bucket_name(r),
        "LifecycleConfiguration": {"Rules": rules}})]  # fmt: skip


def _bucket_policy(r: Registered) -> list[Request]:
    return [("s3", "PutBucketPolicy", {"Bucket": _bucket_name(r), "Policy": r.inputs["policy"]})]


def _permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rule in _ints(rules):
        permission: dict[str, Any] = {"IpProtocol": rule["protocol"],
            "FromPort": rule["fromPort"], "ToPort": rule["toPort"]}  # fmt: skip
        ranges = [{"CidrIp": cidr} for cidr in rule.get("cidrBlocks", [])]
        if "description" in rule:
            for item in ranges:
                item["Description"] = rule["description"]
        if ranges:
            permission["IpRanges"] = ranges
        out.append(permission)
    return out


def _security_group(r: Registered) -> list[Request]:
    i = r.inputs
    group = f"{r.name}-id"
    requests: list[Request] = [
        (
            "ec2",
            "CreateSecurityGroup",
            {"GroupName": physical_name(r), "Description": i["description"], "VpcId": i["vpcId"]},
        )
    ]
    if i.get("ingress"):
        requests.append(
            (
                "ec2",
                "AuthorizeSecurityGroupIngress",
                {"GroupId": group, "IpPermissions": _permissions(i["ingress"])},
            )
        )
    if i.get("egress"):
        requests.append(
            (
                "ec2",
                "AuthorizeSecurityGroupEgress",
                {"GroupId": group, "IpPermissions": _permissions(i["egress"])},
            )
        )
    return requests  # fmt: skip


REQUESTS: dict[str, Callable[[Registered], list[Request]]] = {
    "aws:ecs/cluster:Cluster": _cluster,
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": _capacity,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:scheduler/schedule:Schedule": _schedule,
    "aws:sfn/stateMachine:StateMachine": _state_machine,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/eventRule:EventRule": _rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _attachment,
    "aws:sqs/queue:Queue": _queue,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _encryption
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_policy,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
}

# Declared types that are not AWS resources.
NOT_AWS = {
    "random:index/randomPassword:RandomPassword": "generated locally by the random provider",
}
# Remote (multi-language) components: the awsx provider plugin creates their children, which
# the mock engine never sees. Their inputs are checked by tests/test_program.py only; what they
# create (VPC, subnets, NAT, ECR repository, image push) is proven only by a real deployment.
OPAQUE = {
    "awsx:ec2:DefaultVpc": "reads the default VPC; creates nothing",
    "awsx:ec2:Vpc": "VPC, subnets, route tables, NAT and internet gateways",
    "awsx:ecr:Repository": "ECR repository and lifecycle policy",
    "awsx:ecr:Image": "docker build and push to ECR",
}
# Our own ComponentResources: groupings with no API call of their own.
COMPONENT_PREFIX = "scheduled-etl:"


def requests_for(resource: Registered) -> list[Request] | None:
    """The requests creating `resource`; [] for non-AWS/opaque/component; None if unmapped."""
    if resource.type in REQUESTS:
        return REQUESTS[resource.type](resource)
    if resource.type in NOT_AWS or resource.type in OPAQUE:
        return []
    if resource.type.startswith(COMPONENT_PREFIX):
        return []
    return None


def policy_documents(requests: list[Request]) -> list[dict[str, Any]]:
    """IAM policy documents inside requests (for the IAM lint), decoded."""
    keys = {"AssumeRolePolicyDocument", "PolicyDocument", "Policy", "AttributeValue"}
    return [json.loads(p[k]) for _s, _o, p in requests for k in keys & set(p)]
