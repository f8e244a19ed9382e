"""The AWS options of the modules that call AWS (module_utils/safeindex/core/aws_options.py, aws/client.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  aws_region:
    description:
      - AWS region. The usual boto3 sources (C(AWS_REGION), C(AWS_DEFAULT_REGION), the profile) when unset.
    type: str
  aws_endpoint_url:
    description:
      - Endpoint of the AWS service the module calls (RDS, CloudWatch or S3), such as a VPC endpoint or a test server.
        C(AWS_ENDPOINT_URL) when unset.
    type: str
  aws_profile:
    description:
      - AWS profile for the credentials; the usual boto3 chain (environment, profile, instance role) when unset.
    type: str
requirements:
  - boto3
"""
