"""EC2 controls for the VPCs a stack creates and its security groups, NACLs and subnets.
A VPC is an aws:ec2/vpc:Vpc or an awsx:ec2:Vpc component (whose child VPC is then its); what
secures it is found by what its inputs came from.
https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from fsbp.common import ANYWHERE, depends_on, of_type, suppressed

VPC = "aws:ec2/vpc:Vpc"
AWSX_VPC = "awsx:ec2:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
DEFAULT_NACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
NACL = "aws:ec2/networkAcl:NetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ADMIN_PORTS = (22, 3389)


def created_vpcs(
    resources: list[PolicyResource],
) -> list[tuple[PolicyResource, list[PolicyResource]]]:
    """Each created VPC and what stands for it: the component, its child VPC, or both."""
    found: list[tuple[PolicyResource, list[PolicyResource]]] = []
    for component in of_type(resources, AWSX_VPC):
        children = [
            r for r in of_type(resources, VPC) if r.parent and r.parent.urn == component.urn
        ]
        found.append((component, [component, *children]))
    for vpc in of_type(resources, VPC):
        if not (vpc.parent and vpc.parent.resource_type == AWSX_VPC):
            found.append((vpc, [vpc]))
    return found


def _flow_logs(args: StackValidationArgs, report: ReportViolation) -> None:
    for vpc, aliases in created_vpcs(args.resources):
        if suppressed(vpc.props, "EC2.6"):
            continue
        if not any(depends_on(log, aliases) for log in of_type(args.resources, FLOW_LOG)):
            report("EC2.6: the VPC has no flow log", vpc.urn)


def _default_group_closed(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = of_type(args.resources, DEFAULT_SECURITY_GROUP)
    for vpc, aliases in created_vpcs(args.resources):
        if not any(depends_on(group, aliases) for group in groups):
            report(
                "EC2.2: the VPC's default security group keeps its rules; adopt it with a "
                "rule-less DefaultSecurityGroup",
                vpc.urn,
            )
    for group in groups:
        if group.props.get("ingress") or group.props.get("egress"):
            report("EC2.2: the default security group has rules", group.urn)


def opens_admin_ports(rule: dict[str, Any]) -> bool:
    """An allow rule (NACL entry) that lets 22 or 3389 in from anywhere."""
    action = rule.get("action", rule.get("ruleAction"))
    cidr = rule.get("cidrBlock", rule.get("ipv6CidrBlock"))
    if action != "allow" or cidr not in ANYWHERE:
        return False
    if str(rule.get("protocol")) in ("-1", "all"):
        return True
    low, high = int(rule.get("fromPort") or 0), int(rule.get("toPort") or 0)
    return any(low <= port <= high for port in ADMIN_PORTS)


def _nacl_rules(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in (NACL, DEFAULT_NACL):
        rules = list(args.props.get("ingress") or [])
    elif args.resource_type == NACL_RULE and not args.props.get("egress"):
        rules = [dict(args.props)]
    else:
        return
    for rule in rules:
        if opens_admin_ports(rule):
            report(
                f"EC2.21: NACL rule {rule.get('ruleNo', rule.get('ruleNumber'))} lets port 22 "
                "or 3389 in from anywhere",
                None,
            )


def _vpc_nacl_managed(args: StackValidationArgs, report: ReportViolation) -> None:
    # A created VPC's default NACL allows everything in until the stack gives it rules.
    nacls = of_type(args.resources, DEFAULT_NACL, NACL)
    for vpc, aliases in created_vpcs(args.resources):
        if not any(depends_on(nacl, aliases) for nacl in nacls):
            report(
                "EC2.21: the VPC's default network ACL lets everything in; manage it "
                "(DefaultNetworkAcl) with explicit rules",
                vpc.urn,
            )


def _no_public_ip_mapping(args: ResourceValidationArgs, report: ReportViolation) -> None:
    maps = args.resource_type == SUBNET and args.props.get("mapPublicIpOnLaunch") is True
    if maps and not suppressed(args.props, "EC2.15"):
        report("EC2.15: the subnet maps public IPs on launch", None)


def _no_ingress_from_anywhere(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == SECURITY_GROUP:
        rules = list(args.props.get("ingress") or [])
        opened = [
            r
            for r in rules
            if set(r.get("cidrBlocks") or []) & set(ANYWHERE)
            or set(r.get("ipv6CidrBlocks") or []) & set(ANYWHERE)
        ]
    elif args.resource_type == INGRESS_RULE:
        props = args.props
        opened = (
            [props]
            if props.get("cidrIpv4") in ANYWHERE or props.get("cidrIpv6") in ANYWHERE
            else []
        )
    else:
        return
    for rule in opened:
        protocol = rule.get("protocol", rule.get("ipProtocol"))
        report(
            f"EC2.18/EC2.19: ingress from anywhere on {protocol} "
            f"{rule.get('fromPort')}-{rule.get('toPort')}",
            None,
        )


POLICIES = [
    StackValidationPolicy(
        name="vpc-default-security-group-closed",
        description="EC2.2: a created VPC's default security group has no rules",
        validate=_default_group_closed,
    ),
    StackValidationPolicy(
        name="vpc-flow-logs-enabled",
        description="EC2.6: created VPCs have flow logs (a cost choice: advisory in dev)",
        validate=_flow_logs,
    ),
    ResourceValidationPolicy(
        name="subnet-auto-assign-public-ip-disabled",
        description="EC2.15: subnets do not map public IPs on launch",
        validate=_no_public_ip_mapping,
    ),
    ResourceValidationPolicy(
        name="nacl-no-unrestricted-ssh-rdp",
        description="EC2.21: no NACL lets 22 or 3389 in from anywhere",
        validate=_nacl_rules,
    ),
    StackValidationPolicy(
        name="vpc-default-nacl-managed",
        description="EC2.21: a created VPC's default NACL gets explicit rules",
        validate=_vpc_nacl_managed,
    ),
    ResourceValidationPolicy(
        name="security-group-no-ingress-from-anywhere",
        description="EC2.18/EC2.19: security groups admit nothing from anywhere",
        validate=_no_ingress_from_anywhere,
    ),
]
