"""ECR repository and the service image, built from app/Dockerfile and deployed by digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

# The files that make up the image; their content hash becomes the (immutable) tag.
IMAGE_SOURCES = ("app", "pyproject.toml", "requirements.lock", ".dockerignore")


@dataclass(frozen=True)
class RegistryArgs:
    prefix: str
    repo_root: Path
    platform: str
    protected: bool


class Registry(pulumi.ComponentResource):
    """Exposes ``image_ref``: ``<repository>@sha256:<digest>``, the only way workloads reference the image."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sensorhub:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-service",
            name=f"{args.prefix}/service",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
            force_delete=not args.protected,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-service",
            repository=self.repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "expire untagged images after 7 days",
                            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                          "countUnit": "days", "countNumber": 7},
                            "action": {"type": "expire"},
                        },
                        {
                            "rulePriority": 2,
                            "description": "keep the 50 most recent images",
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
                            "action": {"type": "expire"},
                        },
                    ]
                }
            ),
            opts=child,
        )
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        tag = f"src-{source_hash(args.repo_root)}"
        self.image = docker.Image(
            f"{name}-service",
            image_name=self.repository.repository_url.apply(lambda url: f"{url}:{tag}"),
            build=docker.DockerBuildArgs(
                context=str(args.repo_root),
                dockerfile=str(args.repo_root / "app" / "Dockerfile"),
                target="runtime",
                platform=args.platform,
            ),
            registry=docker.RegistryArgs(
                server=self.repository.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=child,
        )
        self.tag = tag
        self.image_ref: pulumi.Output[str] = self.image.repo_digest
        self.register_outputs({"repositoryUrl": self.repository.repository_url, "imageRef": self.image_ref})


def source_hash(repo_root: Path) -> str:
    """A stable content hash of the image sources (ignores caches), so a new tag means new content."""
    digest = hashlib.sha256()
    for entry in IMAGE_SOURCES:
        path = repo_root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.exists() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(repo_root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
