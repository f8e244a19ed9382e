"""The AWS options (doc fragment safeindex_aws) of the modules that call AWS; aws/client.py builds the client."""

AWS_ARGUMENT_SPEC = dict(
    aws_region=dict(type="str"),
    aws_endpoint_url=dict(type="str"),
    aws_profile=dict(type="str"),
)


def aws_settings(params: dict) -> tuple:
    """(region, endpoint_url, profile), in the order aws/client.py's clients take them."""
    return params["aws_region"], params["aws_endpoint_url"], params["aws_profile"]
