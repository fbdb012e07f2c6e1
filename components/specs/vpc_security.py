"""What a VPC the stack creates gets for FSBP EC2.2, EC2.6, EC2.15 and EC2.21 (pure).

- EC2.2: its default security group keeps no rule (nothing uses it; tasks have their own group).
- EC2.6: flow logs of all traffic to a CloudWatch Logs group, through a role the VPC Flow Logs
  service assumes: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
- EC2.15: no subnet maps public IPs on launch (the NAT gateways have Elastic IPs; tasks get none).
- EC2.21: the default network ACL, which every subnet uses, takes explicit rules: inbound only
  from inside the VPC and replies on ephemeral ports (never 22 or 3389 from anywhere); outbound
  inside the VPC and HTTPS. NACLs are stateless, so replies need their own rule; NAT gateways
  use ports 1024-65535: https://docs.aws.amazon.com/vpc/latest/userguide/custom-network-acl.html#nacl-ephemeral-ports
  Traffic to the Amazon DNS server and the instance metadata/time services is not filtered by
  NACLs: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html
"""

from __future__ import annotations

from typing import Any

ANYWHERE = "0.0.0.0/0"
# NAT gateways' ephemeral ports are 1024-65535; EC2.21 fails any range from anywhere that holds
# 3389, so replies to that one port are not let in (Linux picks 32768-60999 anyway).
EPHEMERAL = [(1024, 3388), (3390, 65535)]
FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"
FLOW_LOG_ACTIONS = [
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
]


def flow_log_group_name(prefix: str) -> str:
    return f"/vpc/{prefix}/flow-logs"


def flow_logs_policy(log_group_arn: str) -> dict[str, Any]:
    """What VPC Flow Logs needs to write into its group (the IAM page above), on that group
    only. DescribeLogGroups is left out: it lists the account's groups, and delivery to a group
    that exists does not need it."""
    group = log_group_arn.removesuffix(":*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FlowLogsDelivery",
                "Effect": "Allow",
                "Action": FLOW_LOG_ACTIONS,
                "Resource": [group, f"{group}:*"],
            }
        ],
    }


def _rule(number: int, protocol: str, cidr: str, ports: tuple[int, int]) -> dict[str, Any]:
    return {
        "rule_no": number,
        "action": "allow",
        "protocol": protocol,
        "cidr_block": cidr,
        "from_port": ports[0],
        "to_port": ports[1],
    }


def nacl_rules(vpc_cidr: str) -> dict[str, list[dict[str, Any]]]:
    """The default NACL's ingress and egress rules (DefaultNetworkAcl's snake_case keys). What
    no rule allows, the NACL's implicit last rule denies."""
    return {
        "ingress": [
            _rule(100, "-1", vpc_cidr, (0, 0)),
            # Replies to the HTTPS the VPC opens.
            *(_rule(110 + 10 * n, "tcp", ANYWHERE, ports) for n, ports in enumerate(EPHEMERAL)),
        ],
        "egress": [
            _rule(100, "-1", vpc_cidr, (0, 0)),
            _rule(110, "tcp", ANYWHERE, (443, 443)),
        ],
    }


def opens_admin_ports(rule: dict[str, Any]) -> bool:
    """Whether an allow rule lets 22 or 3389 in from anywhere (EC2.21's test)."""
    if rule.get("action") != "allow" or rule.get("cidr_block") not in (ANYWHERE, "::/0"):
        return False
    if str(rule.get("protocol")) in ("-1", "all"):
        return True
    low, high = int(rule.get("from_port", 0)), int(rule.get("to_port", 0))
    return any(low <= port <= high for port in (22, 3389))


SUBNET = "aws:ec2/subnet:Subnet"


def without_public_ip_mapping(resource_type: str, props: dict[str, Any]) -> dict[str, Any] | None:
    """A subnet's properties with mapPublicIpOnLaunch off; None for any other resource."""
    if resource_type != SUBNET:
        return None
    return {**props, "mapPublicIpOnLaunch": False}
