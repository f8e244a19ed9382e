"""Upload a verified backup to S3: encrypted at rest, its sha256 as metadata, each object checked after upload."""

from __future__ import annotations

import os
from typing import Any

try:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # aws_client says boto3 is missing
    pass

from ansible.module_utils.safeindex.aws.client import aws_client
from ansible.module_utils.safeindex.core.errors import SafeIndexError


class UploadFailed(SafeIndexError):
    """The backup is safe on disk, but it did not reach S3 as asked."""


def s3_client(region: str | None = None, endpoint_url: str | None = None, profile: str | None = None) -> Any:
    return aws_client("s3", region, endpoint_url, profile)


def upload(client: Any, files: list, bucket: str, prefix: str | None, metadata: dict, sse: str = "AES256",
           kms_key_id: str | None = None) -> list[str]:
    """Upload [(local path, key suffix, sha256)]; returns the s3:// URIs. Raises UploadFailed."""
    uris = []
    for path, suffix, sha256 in files:
        key = "/".join(part.strip("/") for part in (prefix or "", suffix) if part and part.strip("/"))
        extra = {"ServerSideEncryption": sse, "Metadata": dict(metadata, sha256=sha256)}
        if sse == "aws:kms" and kms_key_id:
            extra["SSEKMSKeyId"] = kms_key_id
        where = "s3://%s/%s" % (bucket, key)
        try:
            client.upload_file(path, bucket, key, ExtraArgs=extra)
            head = client.head_object(Bucket=bucket, Key=key)
        except NoCredentialsError:
            raise UploadFailed(
                "no AWS credentials for the upload to %s: set AWS_PROFILE or the AWS_* environment, or use an instance role" % where
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise UploadFailed("upload to %s failed: %s: %s" % (where, error.get("Code"), error.get("Message"))) from None
        except (S3UploadFailedError, BotoCoreError, OSError) as exc:
            # upload_file wraps the service's error (NoSuchBucket, AccessDenied) in its own; its text names it.
            raise UploadFailed("upload to %s failed: %s" % (where, str(exc).split(": ", 1)[-1])) from None
        if head.get("ContentLength") != os.path.getsize(path) or head.get("Metadata", {}).get("sha256") != sha256:
            raise UploadFailed("%s does not hold what was uploaded (size or sha256 differ)" % where)
        if not head.get("ServerSideEncryption"):
            raise UploadFailed("%s is not encrypted at rest" % where)
        uris.append(where)
    return uris
