"""Every resource type the program declares, as the AWS API request(s) that create it.

`REQUESTS` maps a Pulumi type token to a function of the registered resource (its inputs
under the mock engine) returning `(service, operation, params)` requests for botocore's models
(tests/aws_models.py validates them strictly). Adding a resource type to the program means
adding one entry here (or to NOT_AWS / OPAQUE with the reason): tests/infra/test_aws_validation.py
fails for any declared type that is in none of them.

Every declared input must reach a request, or be listed in IGNORED with the reason: a
translator that drops an input would leave it unvalidated. `translate()` hands translators the
inputs as `Inputs`, which records each key they read (at any depth, list items included);
whatever is in a request has been read. An input no translator read and IGNORED does not
excuse is reported with its type and key path. Reading stands for mapping: a translator reads
only what it puts in a request (a provider-only key goes in IGNORED, not read and dropped).

Where the provider (Terraform AWS) computes a value the request needs, the translators use
what it would send: auto-names are `<logical name>-<7 random characters>` (Pulumi's default
autonaming), `name_prefix` gets 26 characters (Terraform's unique-ID suffix), target IDs are
`terraform-` and 26 characters. IDs of other resources are the mock's placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aws_models import (
    TASK_DEFINITION_PROVIDER_ONLY,
    _ints,
    create_schedule_params,
    register_task_definition_params,
)

from tools.offline import REGION, Registered

Request = tuple[str, str, dict[str, Any]]

AUTONAME_SUFFIX = "-a1b2c3d"  # Pulumi autonaming: name + '-' + 7 random characters
PREFIX_SUFFIX = "2030010100000000000000001a"  # Terraform's 26-character unique suffix
TARGET_ID = f"terraform-{PREFIX_SUFFIX}"  # the provider's generated target_id


class Inputs(Mapping[str, Any]):
    """A resource's inputs that record every key read through them (`in` does not count)."""

    def __init__(self, data: Mapping[str, Any], path: str, read: set[str]) -> None:
        self._data, self._path, self._read = data, path, read

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        self._read.add(self._path + key)
        return _tracked(value, self._path + key, self._read)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _tracked(value: Any, path: str, read: set[str]) -> Any:
    if isinstance(value, Mapping):
        return Inputs(value, f"{path}.", read)
    if isinstance(value, list):
        return [_tracked(item, f"{path}[{n}]", read) for n, item in enumerate(value)]
    return value


def _plain(value: Any) -> Any:
    """A request as plain dicts and lists (reading whatever an Inputs put in it)."""
    if isinstance(value, Mapping):
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _key_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield path + key
            yield from _key_paths(item, f"{path}{key}.")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _key_paths(item, f"{path.removesuffix('.')}[{n}].")


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
    if "tags" in params:  # a map in Terraform, a list of key/value pairs in the API
        params["tags"] = [{"key": k, "value": v} for k, v in params["tags"].items()]
    return [("ecs", "CreateCluster", params)]


def _capacity(r: Registered) -> list[Request]:
    i = r.inputs
    return [("ecs", "PutClusterCapacityProviders", {
        "cluster": i["clusterName"],
        "capacityProviders": i["capacityProviders"],
        "defaultCapacityProviderStrategy": [
            _ints(_capacity_item(s)) for s in i.get("defaultCapacityProviderStrategies", [])],
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
    if "loggingConfiguration" in r.inputs:
        logging = r.inputs["loggingConfiguration"]
        params["loggingConfiguration"] = {
            "level": logging["level"],
            "includeExecutionData": logging["includeExecutionData"],
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}
            ],
        }
    return [("stepfunctions", "CreateStateMachine", params)]


def _log_group(r: Registered) -> list[Request]:
    name = physical_name(r)
    create = {"logGroupName": name, **_members(r.inputs, "kmsKeyId", "logGroupClass", "tags")}
    requests: list[Request] = [("logs", "CreateLogGroup", create)]
    if "retentionInDays" in r.inputs:
        days = _ints(r.inputs["retentionInDays"])
        requests.append(
            ("logs", "PutRetentionPolicy", {"logGroupName": name, "retentionInDays": days})
        )
    return requests


def _members(inputs: Mapping[str, Any], *keys: str, pascal: bool = False) -> dict[str, Any]:
    """The declared `keys` as request members of the same name (or PascalCase)."""
    return {(k[:1].upper() + k[1:] if pascal else k): _ints(inputs[k])
            for k in keys if k in inputs}  # fmt: skip


def _secret(r: Registered) -> list[Request]:
    params = {
        "Name": physical_name(r),
        **_members(r.inputs, "description", "kmsKeyId", pascal=True),
    }
    if r.inputs.get("tags"):
        tags = r.inputs["tags"]
        params["Tags"] = [{"Key": k, "Value": tags[k]} for k in tags]
    requests: list[Request] = [("secretsmanager", "CreateSecret", params)]
    if "policy" in r.inputs:
        requests.append(("secretsmanager", "PutResourcePolicy", {
            "SecretId": params["Name"], "ResourcePolicy": r.inputs["policy"]}))  # fmt: skip
    if "recoveryWindowInDays" in r.inputs:  # sent when the secret is deleted
        requests.append(("secretsmanager", "DeleteSecret", {"SecretId": params["Name"],
            "RecoveryWindowInDays": _ints(r.inputs["recoveryWindowInDays"])}))  # fmt: skip
    return requests


def _secret_version(r: Registered) -> list[Request]:
    secret = r.inputs["secretString"]
    plaintext = secret["value"] if isinstance(secret, Mapping) else secret  # a Pulumi secret
    return [("secretsmanager", "PutSecretValue", {
        "SecretId": r.inputs["secretId"], "SecretString": plaintext,
        **_members(r.inputs, "versionStages", pascal=True)})]  # fmt: skip


def _role(r: Registered) -> list[Request]:
    params = {
        "RoleName": physical_name(r),
        "AssumeRolePolicyDocument": r.inputs["assumeRolePolicy"],
    }
    keys = ("description", "path", "maxSessionDuration", "permissionsBoundary")
    return [("iam", "CreateRole", {**params, **_members(r.inputs, *keys, pascal=True)})]


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
        "FifoQueue": "fifoQueue",
        "ContentBasedDeduplication": "contentBasedDeduplication",
        "DeduplicationScope": "deduplicationScope",
        "FifoThroughputLimit": "fifoThroughputLimit",
        "RedrivePolicy": "redrivePolicy",
        "RedriveAllowPolicy": "redriveAllowPolicy",
        "KmsMasterKeyId": "kmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds": "kmsDataKeyReusePeriodSeconds",
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
    keys = ("displayName", "policy", "deliveryPolicy", "kmsMasterKeyId", "fifoTopic",
            "contentBasedDeduplication", "signatureVersion", "tracingConfig",
            "archivePolicy")  # fmt: skip
    params: dict[str, Any] = {"Name": physical_name(r)}
    if attributes := _members(r.inputs, *keys, pascal=True):
        params["Attributes"] = {k: _attribute(v) for k, v in attributes.items()}
    return [("sns", "CreateTopic", params)]


def _topic_policy(r: Registered) -> list[Request]:
    return [("sns", "SetTopicAttributes", {"TopicArn": r.inputs["arn"],
        "AttributeName": "Policy", "AttributeValue": r.inputs["policy"]})]  # fmt: skip


def _subscription(r: Registered) -> list[Request]:
    i = r.inputs
    keys = ("deliveryPolicy", "filterPolicy", "filterPolicyScope", "rawMessageDelivery",
            "redrivePolicy", "subscriptionRoleArn", "replayPolicy")  # fmt: skip
    params = {"TopicArn": i["topic"], "Protocol": i["protocol"], "Endpoint": i["endpoint"]}
    if attributes := _members(r.inputs, *keys, pascal=True):
        params["Attributes"] = {k: _attribute(v) for k, v in attributes.items()}
    return [("sns", "Subscribe", params)]


def _rule(r: Registered) -> list[Request]:
    keys = ("description", "eventPattern", "scheduleExpression", "state", "roleArn",
            "eventBusName")  # fmt: skip
    return [
        ("events", "PutRule", {"Name": physical_name(r), **_members(r.inputs, *keys, pascal=True)})
    ]


def _event_target(r: Registered) -> list[Request]:
    i = r.inputs
    target: dict[str, Any] = {"Id": i.get("targetId", TARGET_ID), "Arn": i["arn"]}
    if "inputTransformer" in i:
        transformer = i["inputTransformer"]
        target["InputTransformer"] = {
            "InputPathsMap": transformer.get("inputPaths", {}),
            "InputTemplate": transformer["inputTemplate"],
        }
    target |= _members(r.inputs, "input", "inputPath", "roleArn", pascal=True)
    if "retryPolicy" in i:
        target["RetryPolicy"] = _pascal_keys(_ints(i["retryPolicy"]))
    if "deadLetterConfig" in i:
        target["DeadLetterConfig"] = _pascal_keys(i["deadLetterConfig"])
    params = {
        "Rule": i["rule"],
        "Targets": [target],
        **_members(r.inputs, "eventBusName", pascal=True),
    }
    return [("events", "PutTargets", params)]


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
    params = {"Bucket": physical_name(r, "bucket"),
              "CreateBucketConfiguration": {"LocationConstraint": REGION}}  # fmt: skip
    if "objectLockEnabled" in r.inputs:
        params["ObjectLockEnabledForBucket"] = r.inputs["objectLockEnabled"]
    requests: list[Request] = [("s3", "CreateBucket", params)]
    if r.inputs.get("tags"):
        tags = r.inputs["tags"]
        requests.append(("s3", "PutBucketTagging", {"Bucket": params["Bucket"], "Tagging": {
            "TagSet": [{"Key": k, "Value": tags[k]} for k in tags]}}))  # fmt: skip
    return requests


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
    if isinstance(value, Mapping):
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


# Terraform's rule keys -> the IpPermission list and the member naming each peer.
_PEERS = {"cidrBlocks": ("IpRanges", "CidrIp"), "ipv6CidrBlocks": ("Ipv6Ranges", "CidrIpv6"),
          "prefixListIds": ("PrefixListIds", "PrefixListId"),
          "securityGroups": ("UserIdGroupPairs", "GroupId")}  # fmt: skip


def _permissions(rules: list[Mapping[str, Any]], group: str) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        permission: dict[str, Any] = {"IpProtocol": rule["protocol"],
            "FromPort": _ints(rule["fromPort"]), "ToPort": _ints(rule["toPort"])}  # fmt: skip
        peers = {key: list(rule[key]) for key in _PEERS if key in rule}
        if rule.get("self"):
            peers["securityGroups"] = [*peers.get("securityGroups", []), group]
        for key, values in peers.items():
            member, field = _PEERS[key]
            permission[member] = [{field: value, **_members(rule, "description", pascal=True)}
                                  for value in values]  # fmt: skip
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
                {"GroupId": group, "IpPermissions": _permissions(i["ingress"], group)},
            )
        )
    if i.get("egress"):
        requests.append(
            (
                "ec2",
                "AuthorizeSecurityGroupEgress",
                {"GroupId": group, "IpPermissions": _permissions(i["egress"], group)},
            )
        )
    return requests  # fmt: skip


def _bucket_logging(r: Registered) -> list[Request]:
    enabled = {"TargetBucket": str(r.inputs["targetBucket"]),
               "TargetPrefix": r.inputs["targetPrefix"]}  # fmt: skip
    return [("s3", "PutBucketLogging", {"Bucket": _bucket_name(r),
        "BucketLoggingStatus": {"LoggingEnabled": enabled}})]  # fmt: skip


def _default_security_group(r: Registered) -> list[Request]:
    # The provider adopts the VPC's default group (found by name) and revokes every rule it has
    # that the resource does not declare; declared rules would be authorized like a group's.
    group = f"{r.name}-id"
    requests: list[Request] = [("ec2", "DescribeSecurityGroups", {"Filters": [
        {"Name": "vpc-id", "Values": [r.inputs["vpcId"]]},
        {"Name": "group-name", "Values": ["default"]}]})]  # fmt: skip
    for key, operation in (("ingress", "Ingress"), ("egress", "Egress")):
        if r.inputs.get(key):
            permissions = _permissions(r.inputs[key], group)
            requests.append(("ec2", f"AuthorizeSecurityGroup{operation}",
                             {"GroupId": group, "IpPermissions": permissions}))  # fmt: skip
    return requests


_PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1", "-1": "-1"}


def _default_network_acl(r: Registered) -> list[Request]:
    acl = r.inputs["defaultNetworkAclId"]
    requests: list[Request] = []
    for key in ("ingress", "egress"):
        for rule in r.inputs.get(key, []):
            requests.append(("ec2", "CreateNetworkAclEntry", {
                "NetworkAclId": acl, "RuleNumber": _ints(rule["ruleNo"]),
                "Protocol": _PROTOCOLS[str(rule["protocol"])],
                "RuleAction": rule["action"], "Egress": key == "egress",
                "CidrBlock": rule["cidrBlock"],
                "PortRange": {"From": _ints(rule["fromPort"]),
                              "To": _ints(rule["toPort"])}}))  # fmt: skip
    for n, _subnet in enumerate(r.inputs.get("subnetIds", [])):
        # The subnet's current association (the mock cannot know its ID) moves to this ACL.
        requests.append(("ec2", "ReplaceNetworkAclAssociation",
                         {"AssociationId": f"aclassoc-{n:08x}", "NetworkAclId": acl}))  # fmt: skip
    return requests


def _flow_log(r: Registered) -> list[Request]:
    i = r.inputs
    params = {"ResourceIds": [i["vpcId"]], "ResourceType": "VPC",
              "TrafficType": i["trafficType"], "LogDestinationType": i["logDestinationType"],
              "LogDestination": i["logDestination"], "DeliverLogsPermissionArn": i["iamRoleArn"],
              **_members(i, "maxAggregationInterval", "logFormat", pascal=True)}  # fmt: skip
    return [("ec2", "CreateFlowLogs", params)]


def _rds_tags(inputs: Mapping[str, Any]) -> dict[str, Any]:
    tags = inputs.get("tags", {})
    return {"Tags": [{"Key": k, "Value": tags[k]} for k in tags]} if tags else {}


def _db_cluster(r: Registered) -> list[Request]:
    i = r.inputs
    identifier = physical_name(r, "clusterIdentifier")
    params: dict[str, Any] = {
        "DBClusterIdentifier": identifier,
        **_members(i, "engine", "engineMode", "engineVersion", "masterUsername",
                   "manageMasterUserPassword", "port", "storageEncrypted", "storageType",
                   "backupRetentionPeriod", "deletionProtection", "copyTagsToSnapshot",
                   "masterUserSecretKmsKeyId", "kmsKeyId", pascal=True),
        **_rds_tags(i),
    }  # fmt: skip
    renamed = {"dbSubnetGroupName": "DBSubnetGroupName",
               "dbClusterParameterGroupName": "DBClusterParameterGroupName",
               "vpcSecurityGroupIds": "VpcSecurityGroupIds",
               "enabledCloudwatchLogsExports": "EnableCloudwatchLogsExports"}  # fmt: skip
    params |= {api: _ints(i[key]) for key, api in renamed.items() if key in i}
    if "serverlessv2ScalingConfiguration" in i:
        scaling = i["serverlessv2ScalingConfiguration"]
        params["ServerlessV2ScalingConfiguration"] = {
            "MinCapacity": float(scaling["minCapacity"]),
            "MaxCapacity": float(scaling["maxCapacity"]),
            **_members(scaling, "secondsUntilAutoPause", pascal=True),
        }
    if "iamRoles" in i:  # associated after creation, one call per role
        roles = [("rds", "AddRoleToDBCluster", {"DBClusterIdentifier": identifier,
                  "RoleArn": arn}) for arn in i["iamRoles"]]  # fmt: skip
    else:
        roles = []
    deletion = {"DBClusterIdentifier": identifier,
                **_members(i, "skipFinalSnapshot", pascal=True)}  # fmt: skip
    if "finalSnapshotIdentifier" in i:
        deletion["FinalDBSnapshotIdentifier"] = i["finalSnapshotIdentifier"]
    return [("rds", "CreateDBCluster", params), *roles, ("rds", "DeleteDBCluster", deletion)]


def _db_instance(r: Registered) -> list[Request]:
    i = r.inputs
    params = {
        "DBInstanceIdentifier": physical_name(r, "identifier"),
        "DBInstanceClass": i["instanceClass"],
        "DBClusterIdentifier": i["clusterIdentifier"],
        **_members(i, "engine", "engineVersion", "publiclyAccessible",
                   "autoMinorVersionUpgrade", pascal=True),
        **_rds_tags(i),
    }  # fmt: skip
    return [("rds", "CreateDBInstance", params)]


def _db_subnet_group(r: Registered) -> list[Request]:
    i = r.inputs
    return [("rds", "CreateDBSubnetGroup", {
        "DBSubnetGroupName": physical_name(r), "SubnetIds": list(i["subnetIds"]),
        "DBSubnetGroupDescription": i["description"], **_rds_tags(i)})]  # fmt: skip


def _db_cluster_parameter_group(r: Registered) -> list[Request]:
    i = r.inputs
    name = physical_name(r)
    requests: list[Request] = [("rds", "CreateDBClusterParameterGroup", {
        "DBClusterParameterGroupName": name, "DBParameterGroupFamily": i["family"],
        "Description": i["description"], **_rds_tags(i)})]  # fmt: skip
    if "parameters" in i:  # the provider's default apply method: immediate
        requests.append(("rds", "ModifyDBClusterParameterGroup", {
            "DBClusterParameterGroupName": name,
            "Parameters": [{"ParameterName": p["name"], "ParameterValue": p["value"],
                            "ApplyMethod": p.get("applyMethod", "immediate")}
                           for p in i["parameters"]]}))  # fmt: skip
    return requests


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
    "aws:s3/bucketLogging:BucketLogging": _bucket_logging,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _default_security_group,
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": _default_network_acl,
    "aws:ec2/flowLog:FlowLog": _flow_log,
    "aws:rds/cluster:Cluster": _db_cluster,
    "aws:rds/clusterInstance:ClusterInstance": _db_instance,
    "aws:rds/subnetGroup:SubnetGroup": _db_subnet_group,
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": _db_cluster_parameter_group,
}

# Declared types that are not AWS resources.
NOT_AWS = {
    "random:index/randomPassword:RandomPassword": "generated locally by the random provider",
    "random:index/randomId:RandomId": "generated locally by the random provider",
}
# Remote (multi-language) components: the awsx provider plugin creates their children, which
# the mock engine never sees. Their inputs are checked by tests/infra/test_program.py only;
# what they create (VPC, subnets, NAT, ECR repository, image push) is proven only by a real
# deployment.
OPAQUE = {
    "awsx:ec2:DefaultVpc": "reads the default VPC; creates nothing",
    "awsx:ec2:Vpc": "VPC, subnets, route tables, NAT and internet gateways",
    "awsx:ecr:Repository": "ECR repository and lifecycle policy",
    "awsx:ecr:Image": "docker build and push to ECR",
}
# Our own ComponentResources: groupings with no API call of their own.
COMPONENT_PREFIX = "scheduled-etl:"


# Declared inputs that no create request carries, by type: key path ('[]' for any list item)
# -> why. Everything else a translator leaves unread is reported by unaccounted_inputs().
IGNORED: dict[str, dict[str, str]] = {
    "aws:ecs/taskDefinition:TaskDefinition": dict.fromkeys(
        TASK_DEFINITION_PROVIDER_ONLY, "provider only: keep old revisions, track the latest"),
    "aws:cloudwatch/logGroup:LogGroup": {"skipDestroy": "provider only: keep on destroy"},
    "aws:cloudwatch/eventRule:EventRule": {"forceDestroy": "provider only: delete managed rules"},
    "aws:cloudwatch/eventTarget:EventTarget": {
        "forceDestroy": "provider only: remove managed targets"},
    "aws:iam/role:Role": {"forceDetachPolicies": "provider only: detach policies on destroy"},
    "aws:secretsmanager/secretVersion:SecretVersion": {
        "secretString.4dabf18193072939515e22adb298388d": "the mock engine's marker of a Pulumi "
        "secret; its value is what PutSecretValue sends"},
    "aws:s3/bucket:Bucket": {"forceDestroy": "provider only: empty the bucket on destroy"},
    "aws:ec2/securityGroup:SecurityGroup": {
        "revokeRulesOnDelete": "provider only: revoke rules before deleting the group"},
    "aws:sns/topicSubscription:TopicSubscription": {
        "confirmationTimeoutInMinutes": "provider only: how long to wait for confirmation",
        "endpointAutoConfirms": "provider only: whether to wait for confirmation"},
}  # fmt: skip


def translate(resource: Registered) -> tuple[list[Request], list[str]] | None:
    """The requests creating `resource` and its inputs none of them carries (type and key
    path, one line each); ([], []) for non-AWS/opaque/component; None if unmapped."""
    if resource.type not in REQUESTS:
        known = resource.type in NOT_AWS or resource.type in OPAQUE
        return ([], []) if known or resource.type.startswith(COMPONENT_PREFIX) else None
    read: set[str] = set()
    tracked = Registered(resource.type, resource.name, Inputs(resource.inputs, "", read),
                         resource.outputs, resource.urn, resource.parent)  # fmt: skip
    requests = [(s, o, _plain(p)) for s, o, p in REQUESTS[resource.type](tracked)]
    ignored = IGNORED.get(resource.type, {})
    left = [
        f"{resource.type} {resource.name}: input {path} is not in any request (map it in "
        "tests/aws_requests.py, or add it to IGNORED with the reason)"
        for path in _key_paths(resource.inputs)
        if path not in read and not _is_ignored(path, ignored)
    ]
    return requests, left


def _is_ignored(path: str, ignored: Mapping[str, str]) -> bool:
    general = re.sub(r"\[\d+\]", "[]", path)
    return any(general == key or general.startswith((f"{key}.", f"{key}[")) for key in ignored)


def requests_for(resource: Registered) -> list[Request] | None:
    """The requests creating `resource`; [] for non-AWS/opaque/component; None if unmapped."""
    translated = translate(resource)
    return None if translated is None else translated[0]


def unaccounted_inputs(resource: Registered) -> list[str]:
    """Declared inputs of `resource` that reach no request and are not IGNORED."""
    translated = translate(resource)
    return [] if translated is None else translated[1]
