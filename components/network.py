"""Where the tasks run (default VPC, new VPC or existing subnets) and their security group."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.settings import (
    DefaultVpcNetwork,
    ExistingNetwork,
    NewVpcNetwork,
    assigns_public_ip,
)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[Sequence[str]]
    assign_public_ip: bool
    security_group_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: DefaultVpcNetwork | NewVpcNetwork | ExistingNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        if isinstance(settings, DefaultVpcNetwork):
            # Default subnets are public: without a NAT the task needs a public IP to pull
            # images and reach AWS APIs. Nothing can connect in (the security group has no ingress).
            default = awsx.ec2.DefaultVpc(f"{name}-default", opts=child)
            self.vpc_id = default.vpc_id
            self.subnet_ids = default.public_subnet_ids
        elif isinstance(settings, NewVpcNetwork):
            vpc = awsx.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=settings.cidr_block,
                number_of_availability_zones=settings.availability_zones,
                nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
                    strategy=awsx.ec2.NatGatewayStrategy(settings.nat_gateways),
                ),
                enable_dns_hostnames=True,
                opts=child,
            )
            self.vpc_id = vpc.vpc_id
            self.subnet_ids = vpc.private_subnet_ids
        else:
            self.vpc_id = pulumi.Output.from_input(settings.vpc_id)
            self.subnet_ids = pulumi.Output.from_input(settings.subnet_ids)

        self.assign_public_ip = assigns_public_ip(settings)

        # Egress on 443 only: ECR, Docker Hub, S3, Secrets Manager and CloudWatch are all HTTPS.
        # DNS goes to the VPC resolver, which security groups do not filter.
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
        self.security_group_id = group.id
        self.register_outputs(
            {"vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids, "security_group_id": group.id}
        )
