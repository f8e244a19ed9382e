"""AWS clients the boto3 way: credentials from the environment, a profile or an instance role;
AWS_ENDPOINT_URL honoured; throttling retried with backoff before an error reaches the operator."""

import os

try:
    import boto3
    from botocore.config import Config
except ImportError:  # reported by the module that needs AWS
    boto3 = None

from ansible.module_utils.safeindex.errors import SafeIndexError

RETRIES = {"mode": "standard", "max_attempts": 8}


class AwsUnavailable(SafeIndexError):
    """No boto3, or no way to build a client."""


def aws_client(service, region=None, endpoint_url=None, profile=None, connect_timeout=10, read_timeout=60):
    if boto3 is None:
        raise AwsUnavailable("boto3 is required for AWS (pip install boto3)")
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
        raise AwsUnavailable("cannot use AWS profile %r: %s" % (profile, exc)) from None
    config = Config(retries=RETRIES, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return session.client(service, endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None, config=config)
