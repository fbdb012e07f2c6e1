"""Where the tasks run (default VPC, new VPC or existing subnets) and their security group
(existing ones, or one created with outbound HTTPS only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import pulumi
import pulumi_aws as aws

from components.args import JobPlatformArgs
from components.awsx import awsx as awsx_module
from components.specs import policies, vpc_security

if TYPE_CHECKING:  # imported where used (components/awsx.py)
    import pulumi_awsx as awsx


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str] | None  # None: existing subnets and security groups, no VPC given
    subnet_ids: pulumi.Output[Sequence[str]]
    assign_public_ip: bool
    security_group_ids: pulumi.Output[Sequence[str]]

    def __init__(
        self,
        name: str,
        args: JobPlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        account_id: pulumi.Input[str] = "",
        flow_log_retention_days: int = 365,
    ) -> None:
        super().__init__("scheduled-etl:etl:Network", name, None, opts)
        self._account_id = account_id
        child = pulumi.ResourceOptions(parent=self)

        subnet_ids, new_vpc = args.get("subnet_ids"), args.get("new_vpc")
        if subnet_ids is not None and new_vpc is not None:
            raise ValueError(f"{name}: give subnetIds or newVpc, not both")
        vpc_id = args.get("vpc_id")
        self.vpc_id = None if vpc_id is None else pulumi.Output.from_input(vpc_id)
        if subnet_ids is not None:
            self.subnet_ids = _ids(subnet_ids)
        elif new_vpc is not None:
            awsx = awsx_module("vpc")
            cidr_block = new_vpc.get("cidr_block", "10.0.0.0/16")
            vpc = awsx.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=cidr_block,
                number_of_availability_zones=new_vpc.get("availability_zones", 2),
                nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
                    strategy=awsx.ec2.NatGatewayStrategy(new_vpc.get("nat_gateways", "Single")),
                ),
                enable_dns_hostnames=True,
                # EC2.15: awsx's public subnets map public IPs; only the NAT gateways live
                # there, and they have Elastic IPs.
                opts=pulumi.ResourceOptions(parent=self, transforms=[_no_public_ip_mapping]),
            )
            self.vpc_id = vpc.vpc_id
            self.subnet_ids = vpc.private_subnet_ids
            self._secure_vpc(name, vpc, cidr_block, flow_log_retention_days, child)
        else:
            # Default subnets are public: without a NAT the task needs a public IP to pull
            # images and reach AWS APIs. Nothing can connect in (the security group has no
            # ingress). The default VPC is the account's, not this stack's: its default
            # security group, NACL, flow logs and subnets (EC2.2/6/15/21) are left as they are
            # (docs/security.md).
            awsx = awsx_module("vpc")
            default = awsx.ec2.DefaultVpc(f"{name}-default", opts=child)
            self.vpc_id = default.vpc_id
            self.subnet_ids = default.public_subnet_ids
        self.assign_public_ip = args.get("assign_public_ip", subnet_ids is None and new_vpc is None)

        groups = args.get("security_group_ids")
        if groups is not None:
            self.security_group_ids = _ids(groups)
        elif self.vpc_id is None:
            raise ValueError(f"{name}: give vpcId (to create the tasks' security group in) or "
                             "securityGroupIds with subnetIds")  # fmt: skip
        else:
            # Egress on 443 only: ECR, Docker Hub, S3, Secrets Manager and CloudWatch are all
            # HTTPS. DNS goes to the VPC resolver, which security groups do not filter.
            group = aws.ec2.SecurityGroup(
                f"{name}-tasks",
                description="Scheduled ETL tasks: outbound HTTPS only, no inbound",
                vpc_id=self.vpc_id,
                ingress=[],
                egress=[
                    aws.ec2.SecurityGroupEgressArgs(
                        description="HTTPS to AWS APIs and image registries",
                        protocol="tcp",
                        from_port=443,
                        to_port=443,
                        cidr_blocks=["0.0.0.0/0"],
                    )
                ],
                opts=child,
            )
            self.security_group_ids = group.id.apply(lambda id_: [id_])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "security_group_ids": self.security_group_ids,
            }
        )

    def _secure_vpc(
        self,
        name: str,
        vpc: awsx.ec2.Vpc,
        cidr_block: str,
        retention_days: int,
        child: pulumi.ResourceOptions,
    ) -> None:
        """EC2.2, EC2.6 and EC2.21 for a VPC this stack creates (specs/vpc_security.py)."""
        # EC2.2: the provider adopts the VPC's default group and revokes all its rules.
        aws.ec2.DefaultSecurityGroup(f"{name}-default", vpc_id=vpc.vpc_id, opts=child)
        default_acl = aws.ec2.get_network_acls_output(
            vpc_id=vpc.vpc_id,
            filters=[{"name": "default", "values": ["true"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).ids.apply(lambda ids: ids[0])
        rules = vpc_security.nacl_rules(cidr_block)
        aws.ec2.DefaultNetworkAcl(
            f"{name}-default",
            default_network_acl_id=default_acl,
            # Every subnet, so none is left on an ACL without these rules.
            subnet_ids=pulumi.Output.all(vpc.public_subnet_ids, vpc.private_subnet_ids).apply(
                lambda ids: [*ids[0], *ids[1]]
            ),
            ingress=cast(list[aws.ec2.DefaultNetworkAclIngressArgsDict], rules["ingress"]),
            egress=cast(list[aws.ec2.DefaultNetworkAclEgressArgsDict], rules["egress"]),
            opts=child,
        )
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=vpc_security.flow_log_group_name(name),
            retention_in_days=retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="VPC Flow Logs: write this VPC's flow logs to their log group",
            assume_role_policy=pulumi.Output.from_input(self._account_id).apply(
                lambda account: json.dumps(
                    policies.trust_policy(vpc_security.FLOW_LOGS_SERVICE, account)
                )
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(lambda arn: json.dumps(vpc_security.flow_logs_policy(arn))),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )


def _no_public_ip_mapping(
    args: pulumi.ResourceTransformArgs,
) -> pulumi.ResourceTransformResult | None:
    props = vpc_security.without_public_ip_mapping(args.type_, dict(args.props))
    return None if props is None else pulumi.ResourceTransformResult(props, args.opts)


def _ids(ids: pulumi.Input[Sequence[pulumi.Input[str]]]) -> pulumi.Output[Sequence[str]]:
    """IDs given as a list (of strings or outputs) or an output of one, as one output."""
    # from_input resolves the outputs inside a list; its typing does not follow that far.
    return cast(pulumi.Output[Sequence[str]], pulumi.Output.from_input(ids))
