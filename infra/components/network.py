"""A hand-written VPC: public, private and isolated subnets per AZ, NAT, flow logs and endpoints."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Literal, cast

import pulumi
import pulumi_aws as aws

from infra.stack_config import PROJECT, Section

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "logs")
NatStrategy = Literal["single", "perAz"]
# Pods take their IPs from the private subnets (VPC CNI): those are /19 (8,187 usable addresses per AZ);
# load balancers, NAT and databases need few, so public and isolated subnets stay /24.
PRIVATE_PREFIX = 19
SMALL_PREFIX = 24
SMALLEST_VPC_PREFIX = 16


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str
    az_count: int
    nat_gateways: NatStrategy
    flow_log_retention_days: int

    @classmethod
    def read(cls, section: Section) -> NetworkSettings:
        settings = cls(
            cidr=section.cidr("cidr"),
            az_count=section.integer("azCount", 2, 3),
            nat_gateways=cast(NatStrategy, section.choice("natGateways", ["single", "perAz"])),
            flow_log_retention_days=section.integer("flowLogRetentionDays", 1, 3653),
        )
        section.done()
        if ipaddress.ip_network(settings.cidr).prefixlen > SMALLEST_VPC_PREFIX:
            section.fail(f"must be /{SMALLEST_VPC_PREFIX} or larger to fit a /{PRIVATE_PREFIX} pod subnet and "
                         f"two /{SMALL_PREFIX} subnets per AZ, got {settings.cidr}", "cidr")
        return settings

    def prod_problems(self) -> list[str]:
        problems = []
        if self.az_count != 3:
            problems.append(f"{PROJECT}:network.azCount must be 3 in prod, got {self.az_count}")
        if self.nat_gateways != "perAz":
            problems.append(
                f"{PROJECT}:network.natGateways must be 'perAz' in prod (one NAT gateway per AZ, so losing an AZ "
                f"does not cut egress), got {self.nat_gateways!r}"
            )
        return problems


def subnet_layout(cidr: str, az_count: int) -> dict[str, list[str]]:
    """CIDR blocks per tier: private /19s from the bottom of the VPC, public and isolated /24s above them."""
    network = ipaddress.ip_network(cidr)
    private = [str(b) for b in list(network.subnets(new_prefix=PRIVATE_PREFIX))[:az_count]]
    small = list(network.subnets(new_prefix=SMALL_PREFIX))
    first_free = az_count * 2 ** (SMALL_PREFIX - PRIVATE_PREFIX)
    return {
        "private": private,
        "public": [str(small[first_free + i]) for i in range(az_count)],
        "isolated": [str(small[first_free + 8 + i]) for i in range(az_count)],
    }


@dataclass(frozen=True)
class VpcArgs:
    prefix: str
    region: str
    cidr: str
    availability_zones: list[str]
    nat_gateways: NatStrategy
    flow_log_retention_days: int
    logs_key_arn: pulumi.Input[str]
    cluster_name: str


class Vpc(pulumi.ComponentResource):
    """Three subnet tiers per AZ: public (load balancers, NAT), private (nodes), isolated (databases)."""

    def __init__(self, name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:network:Vpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        azs = args.availability_zones
        blocks = subnet_layout(args.cidr, len(azs))

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": args.prefix},
            opts=child,
        )
        vpc_id = self.vpc.id
        # The default security group allows all traffic between its members; adopt it and strip every rule.
        aws.ec2.DefaultSecurityGroup(f"{name}-default", vpc_id=vpc_id, ingress=[], egress=[], opts=child)

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc_id, tags={"Name": f"{args.prefix}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc_id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{args.prefix}-public"},
            opts=child,
        )

        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.isolated_subnets: list[aws.ec2.Subnet] = []
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        for i, az in enumerate(azs):
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc_id,
                availability_zone=az,
                cidr_block=blocks["public"][i],
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.prefix}-public-{az}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            self.public_subnets.append(public)

        nat_count = 1 if args.nat_gateways == "single" else len(azs)
        nats: list[aws.ec2.NatGateway] = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{args.prefix}-nat-{i}"}, opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=self.public_subnets[i].id,
                    tags={"Name": f"{args.prefix}-nat-{azs[i]}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )

        self.private_route_tables: list[aws.ec2.RouteTable] = []
        isolated_rt = aws.ec2.RouteTable(
            f"{name}-isolated", vpc_id=vpc_id, tags={"Name": f"{args.prefix}-isolated"}, opts=child
        )
        for i, az in enumerate(azs):
            nat = nats[i if nat_count > 1 else 0]
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=vpc_id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{args.prefix}-private-{az}"},
                opts=child,
            )
            self.private_route_tables.append(private_rt)
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc_id,
                availability_zone=az,
                cidr_block=blocks["private"][i],
                tags={"Name": f"{args.prefix}-private-{az}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )
            self.private_subnets.append(private)
            isolated = aws.ec2.Subnet(
                f"{name}-isolated-{i}",
                vpc_id=vpc_id,
                availability_zone=az,
                cidr_block=blocks["isolated"][i],
                tags={"Name": f"{args.prefix}-isolated-{az}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-isolated-{i}", subnet_id=isolated.id, route_table_id=isolated_rt.id, opts=child
            )
            self.isolated_subnets.append(isolated)

        self._flow_logs(name, args, child)
        self._endpoints(name, args, [public_rt, isolated_rt, *self.private_route_tables], child)

        self.vpc_id = vpc_id
        self.cidr = args.cidr
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.isolated_subnet_ids = [s.id for s in self.isolated_subnets]
        self.register_outputs(
            {
                "vpcId": vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "isolatedSubnetIds": self.isolated_subnet_ids,
                "natGatewayIds": [n.id for n in nats],
            }
        )

    def _flow_logs(self, name: str, args: VpcArgs, child: pulumi.ResourceOptions) -> None:
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/{args.prefix}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )

    def _endpoints(
        self, name: str, args: VpcArgs, route_tables: list[aws.ec2.RouteTable], child: pulumi.ResourceOptions
    ) -> None:
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in route_tables],
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            description="HTTPS from inside the VPC to the interface endpoints",
            vpc_id=self.vpc.id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC", protocol="tcp", from_port=443, to_port=443,
                    cidr_blocks=[args.cidr],
                )
            ],
            egress=[],
            opts=child,
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[endpoint_sg.id],
                opts=child,
            )
