"""What the real engine hands the policy analyzer for a multi-language component.

Under mocks ``pulumi_eks.Cluster`` and ``ManagedNodeGroup`` register once, with their inputs, and create no
children. In a real ``pulumi preview`` the component's provider constructs them: the analyzer sees the
component with **empty properties** and sees its children. :func:`as_engine_sees_it` rewrites a recorded
graph that way, with children modelled on the pinned component's source (pulumi-eks 4.x,
``nodejs/eks/cluster/cluster.ts``, ``cluster/authenticationMode.ts``, ``addons/cni-addon.ts``,
``nodes/nodegroup.ts``; read at commit 7bf0c1b, 2026-08-12). Only properties the rules read are modelled.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

from infra.offline.mocks import Graph, Resource

EKS_CLUSTER = "eks:index:Cluster"
EKS_MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"


def _child(parent: Resource, type_: str, name: str, inputs: Mapping[str, Any]) -> Resource:
    stack_type = parent.urn.split("::")[2]
    urn = f"{parent.urn.split('::', 2)[0]}::{parent.urn.split('::')[1]}::{stack_type}${type_}::{name}"
    return Resource(type=type_, name=name, urn=urn, id=f"{name}-id", custom=True, inputs=dict(inputs),
                    provider=parent.providers.get("aws", parent.provider), providers={}, parent=parent.urn,
                    protect=parent.protect, retain_on_delete=False, dependencies=(parent.urn,),
                    property_dependencies={})


def _cluster_children(component: Resource) -> list[Resource]:
    p = component.inputs
    name = component.name
    public_access = p.get("endpointPublicAccess", True)
    children = [
        _child(component, "aws:iam/role:Role", f"{name}-eksRole", {
            "assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        }),
        _child(component, "aws:eks/cluster:Cluster", f"{name}-eksCluster", {
            "name": p.get("name"),
            "roleArn": f"{name}-eksRole-arn",
            "bootstrapSelfManagedAddons": True,
            "vpcConfig": {
                "securityGroupIds": None if p.get("skipDefaultSecurityGroups") else [f"{name}-sg"],
                "subnetIds": [*(p.get("publicSubnetIds") or []), *(p.get("privateSubnetIds") or [])],
                "endpointPrivateAccess": p.get("endpointPrivateAccess"),
                "endpointPublicAccess": public_access,
                "publicAccessCidrs": p.get("publicAccessCidrs"),
            },
            "version": p.get("version"),
            "enabledClusterLogTypes": p.get("enabledClusterLogTypes"),
            "tags": {"Name": f"{name}-eksCluster", **(p.get("tags") or {})},
            "encryptionConfig": {"provider": {"keyArn": p["encryptionConfigKeyArn"]}, "resources": ["secrets"]}
            if p.get("encryptionConfigKeyArn") else None,
            "accessConfig": {"authenticationMode": p["authenticationMode"],
                             "bootstrapClusterCreatorAdminPermissions": True}
            if p.get("authenticationMode") else None,
            "upgradePolicy": p.get("upgradePolicy"),
            "deletionProtection": p.get("deletionProtection"),
        }),
        _child(component, "aws:eks/addon:Addon", f"{name}-kube-proxy",
               {"clusterName": p.get("name"), "addonName": "kube-proxy", "preserve": True}),
        _child(component, "aws:eks/addon:Addon", f"{name}-coredns",
               {"clusterName": p.get("name"), "addonName": "coredns", "preserve": True}),
    ]
    cni = p.get("vpcCniOptions") or {}
    cni_config: dict[str, Any] = {"env": {}}
    if "enableNetworkPolicy" in cni:
        cni_config["enableNetworkPolicy"] = "true" if cni["enableNetworkPolicy"] else "false"
    if not p.get("useDefaultVpcCni"):
        children.append(_child(component, "aws:eks/addon:Addon", f"{name}-vpc-cni", {
            "clusterName": p.get("name"), "addonName": "vpc-cni", "preserve": True,
            "configurationValues": json.dumps(cni_config)}))
    if p.get("createOidcProvider"):
        children.append(_child(component, "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
                               f"{name}-oidcProvider", {"clientIdLists": ["sts.amazonaws.com"],
                                                        "url": f"{name}-issuer", "thumbprintLists": ["mock"]}))
    for entry_name, entry in (p.get("accessEntries") or {}).items():
        children.append(_child(component, "aws:eks/accessEntry:AccessEntry", f"{name}-{entry_name}",
                               {"clusterName": p.get("name"), "principalArn": entry.get("principalArn")}))
        for association_name, association in (entry.get("accessPolicies") or {}).items():
            children.append(_child(component, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
                                   f"{name}-{entry_name}-{association_name}", {
                                       "clusterName": p.get("name"), "principalArn": entry.get("principalArn"),
                                       "policyArn": association.get("policyArn"),
                                       "accessScope": association.get("accessScope")}))
    return children


def _node_group_children(component: Resource) -> list[Resource]:
    p = component.inputs
    scaling = p.get("scalingConfig") or {}
    return [_child(component, "aws:eks/nodeGroup:NodeGroup", component.name, {
        **{k: v for k, v in p.items() if k not in ("cluster", "nodeRole", "scalingConfig")},
        "nodeRoleArn": f"{component.name}-node-role-arn",
        "scalingConfig": {"desiredSize": scaling.get("desiredSize", 2), "minSize": scaling.get("minSize", 1),
                          "maxSize": scaling.get("maxSize", 2)},
    })]


CHILDREN: dict[str, Callable[[Resource], list[Resource]]] = {
    EKS_CLUSTER: _cluster_children,
    EKS_MANAGED_NODE_GROUP: _node_group_children,
}
# The components whose children are modelled (every multi-language component the program declares must be).
MODELLED = frozenset(CHILDREN)


def as_engine_sees_it(graph: Graph) -> Graph:
    """The graph with each multi-language component emptied and followed by its modelled children."""
    resources: list[Resource] = []
    for r in graph:
        if r.type in CHILDREN:
            resources.append(dataclasses.replace(r, inputs={}))
            resources += CHILDREN[r.type](r)
        else:
            resources.append(r)
    return Graph(stack=graph.stack, resources=resources, outputs=graph.outputs)
