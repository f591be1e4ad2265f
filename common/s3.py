"""Plain S3 (boto3, SigV4, path-style) so that RustFS, MinIO or AWS all work the same way."""
from __future__ import annotations

import mimetypes
from datetime import datetime, timedelta, timezone

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from common.config import Settings

MULTIPART = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                           max_concurrency=4)


def client(settings: Settings, public: bool = False):
    """An S3 client for uploads (endpoint URL) or for signing links (public URL: the signature covers the host)."""
    endpoint = (settings.S3PUBLICURL or settings.S3ENDPOINTURL) if public else settings.S3ENDPOINTURL
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=settings.S3REGION,
        aws_access_key_id=settings.S3ACCESSKEY or None, aws_secret_access_key=settings.S3SECRETKEY or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required", response_checksum_validation="when_required",
                      connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}))


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket)


def upload(s3, bucket: str, key: str, path) -> None:
    content_type = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type}, Config=MULTIPART)


def presigned_get(s3, bucket: str, key: str, expiry_seconds: int) -> tuple[str, str]:
    """The link and its expiry time (ISO, UTC)."""
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expiry_seconds)
    expires = datetime.now(timezone.utc) + timedelta(seconds=expiry_seconds)
    return url, expires.isoformat(timespec="seconds").replace("+00:00", "Z")
