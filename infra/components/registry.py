"""ECR repository and the service image, built from app/Dockerfile and deployed by digest."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

DOCKERFILE = Path("app") / "Dockerfile"
TARGET = "runtime"


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
        # ECR tags are immutable: the tag is a hash of everything the build can see, so a new tag means new
        # content and unchanged content never pushes a different image under an existing tag.
        tag = f"ctx-{build_context_hash(args.repo_root, DOCKERFILE, target=TARGET, platform=args.platform)}"
        self.image = docker.Image(
            f"{name}-service",
            image_name=self.repository.repository_url.apply(lambda url: f"{url}:{tag}"),
            build=docker.DockerBuildArgs(
                context=str(args.repo_root),
                dockerfile=str(args.repo_root / DOCKERFILE),
                target=TARGET,
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


class DockerIgnore:
    """``.dockerignore`` as the Docker builder reads it: glob patterns with ``**``, ``!`` exceptions, last match
    wins, and a pattern that matches a directory excludes everything below it."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str], str]] = []
        for line in text.splitlines():
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            include = pattern.startswith("!")
            pattern = os.path.normpath(pattern.removeprefix("!").strip()).lstrip("/")
            self.rules.append((include, re.compile(_glob_to_regex(pattern)), _literal_prefix(pattern)))

    def excluded(self, path: str) -> bool:
        excluded = False
        for include, regex, _ in self.rules:
            if regex.match(path):
                excluded = not include
        return excluded

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something under an excluded ``directory``."""
        below = directory + "/"
        return any(include and (prefix.startswith(below) or below.startswith(prefix))
                   for include, _, prefix in self.rules)


def _literal_prefix(pattern: str) -> str:
    match = re.search(r"[*?\[\\]", pattern)
    return pattern[: match.start()] if match else pattern


def _glob_to_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return f"^{out}(?:/.*)?$"


def build_context(root: Path) -> list[str]:
    """The files the builder receives from ``root`` after ``.dockerignore``, sorted (paths relative to root)."""
    ignore_file = root / ".dockerignore"
    ignore = DockerIgnore(ignore_file.read_text() if ignore_file.exists() else "")
    files: list[str] = []
    for directory, dirs, names in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        prefix = "" if here == "." else f"{here}/"
        dirs[:] = sorted(d for d in dirs
                         if not ignore.excluded(prefix + d) or ignore.may_include_below(prefix + d))
        files += [prefix + name for name in names if not ignore.excluded(prefix + name)]
    return sorted(files)


def build_context_hash(root: Path, dockerfile: Path, *, target: str, platform: str) -> str:
    """What the built image depends on: every file of the context, the Dockerfile (sent even when ignored),
    the target and the platform."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"target": target, "platform": platform, "dockerfile": dockerfile.as_posix()}).encode())
    digest.update((root / dockerfile).read_bytes())
    for name in build_context(root):
        path = root / name
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
    return digest.hexdigest()[:20]
