"""Adapters: boto3 and slack_sdk behind the domain's ports. Each module declares its IAM actions."""
