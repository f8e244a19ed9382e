"""AWS clients the boto3 way: credentials from the environment, a profile or an instance role;
AWS_ENDPOINT_URL honoured; throttling and timeouts retried with backoff before an error reaches the operator
(standard mode, 8 attempts, unless the operator set AWS_MAX_ATTEMPTS / AWS_RETRY_MODE or a profile's
max_attempts / retry_mode). Each attempt waits at most connect_timeout to connect and read_timeout for an answer."""

from __future__ import annotations

import os
from typing import Any

try:
    import boto3
    from botocore.config import Config
except ImportError:  # reported by the module that needs AWS
    boto3 = None

from ansible.module_utils.safeindex.core.errors import SafeIndexError

# total_max_attempts counts the first try too (Config's max_attempts would mean 8 retries, 9 tries).
RETRIES = {"mode": "standard", "total_max_attempts": 8}


class AwsUnavailable(SafeIndexError):
    """No boto3, or no way to build a client."""


def aws_client(service: str, region: str | None = None, endpoint_url: str | None = None, profile: str | None = None,
               connect_timeout: int = 10, read_timeout: int = 60) -> Any:
    if boto3 is None:
        raise AwsUnavailable("boto3 is required for AWS (pip install boto3)")
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
        raise AwsUnavailable("cannot use AWS profile %r: %s" % (profile, exc)) from None
    config = Config(retries=_retries(session), connect_timeout=connect_timeout, read_timeout=read_timeout)
    return session.client(service, endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None, config=config)


def _retries(session):
    """Our retry defaults, less what the operator set the boto3 way (a value given to Config would override theirs;
    one left out, botocore reads from the environment and the profile)."""
    settings = session._session  # botocore's session
    return {name: value for name, value in RETRIES.items() if not _set_by_operator(settings, name)}


def _set_by_operator(settings, name):
    """True when the environment or the profile's config sets it (botocore's defaults do not count)."""
    env_name, config_name = {"mode": ("AWS_RETRY_MODE", "retry_mode"), "total_max_attempts": ("AWS_MAX_ATTEMPTS", "max_attempts")}[name]
    if os.environ.get(env_name):
        return True
    try:
        return config_name in settings.get_scoped_config()
    except Exception:  # a profile that cannot be read is reported when the client is used
        return False
