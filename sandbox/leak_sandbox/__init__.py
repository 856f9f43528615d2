"""The whole system on one machine: moto server, Slack stand-in, approval endpoint and worker.

- :mod:`.provisioner` creates template.yaml's resources on any boto3 endpoint (moto in-process
  or the moto server), so there is no second, hand-written list of resources.
- :mod:`.worker` stands in for the SQS event source mapping of the responder.
- :mod:`.function_url` stands in for the approval function's Function URL.
- :mod:`.orchestrator` starts them all and writes the ready file of docs/interfaces.md.
"""
