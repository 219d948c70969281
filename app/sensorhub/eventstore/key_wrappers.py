"""Key-encryption keys for the subjects' data keys (``subject_keys``): a local key file, or AWS KMS.

Both bind a wrapped key to its subject (associated data / encryption context), so a wrapped key
copied onto another subject's row does not unwrap.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sensorhub.settings import Settings

KEK_BYTES = 32
_CONTEXT = "sensorhub:subject"


class LocalKeyWrapper:
    """AES-256-GCM under a key file: 32 random bytes, made on first use with mode 0600."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._kek: bytes | None = None

    def key(self) -> bytes:
        if self._kek is None:
            self._kek = self._read_or_create()
        return self._kek

    async def wrap(self, subject_id: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key()).encrypt(nonce, key, f"{_CONTEXT}:{subject_id}".encode())

    async def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        return AESGCM(self.key()).decrypt(wrapped[:12], wrapped[12:], f"{_CONTEXT}:{subject_id}".encode())

    def _read_or_create(self) -> bytes:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            kek = self.path.read_bytes()
            if len(kek) != KEK_BYTES:
                raise ValueError(f"{self.path} holds {len(kek)} bytes; a key file holds {KEK_BYTES}") from None
            return kek
        kek = os.urandom(KEK_BYTES)
        with os.fdopen(fd, "wb") as f:
            f.write(kek)
        return kek


class KmsKeyWrapper:
    """``kms:Encrypt`` / ``kms:Decrypt`` of each data key under ``key_id``, with the subject as
    encryption context (boto3 is blocking: each call runs in a worker thread)."""

    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        self.key_id = key_id
        self.name = f"kms:{key_id}"

    async def wrap(self, subject_id: str, key: bytes) -> bytes:
        answer = await asyncio.to_thread(
            self._client.encrypt, KeyId=self.key_id, Plaintext=key, EncryptionContext={_CONTEXT: subject_id}
        )
        return bytes(answer["CiphertextBlob"])

    async def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        answer = await asyncio.to_thread(
            self._client.decrypt, CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext={_CONTEXT: subject_id}
        )
        return bytes(answer["Plaintext"])


def key_wrapper(settings: Settings) -> LocalKeyWrapper | KmsKeyWrapper:
    """KMS when ``kms_key_id`` is set (the Pulumi program sets it), else the key file."""
    if settings.kms_key_id:
        import boto3  # only where KMS is configured

        return KmsKeyWrapper(boto3.client("kms"), settings.kms_key_id)
    return LocalKeyWrapper(settings.key_file)
