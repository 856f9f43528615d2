"""The domain: records, ports and workflows. It never imports boto3 or slack_sdk."""
