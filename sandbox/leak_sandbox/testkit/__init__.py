"""The test kit: what the tests, the benchmarks and the demo share to drive the responder.

- ``fakes``: in-memory fakes of every port of the domain.
- ``world``: one World of those fakes (home and member accounts), its people and ``leaked()``.
- ``slack``: signed Slack requests, click payloads, form bodies, Function URL events.
- ``events``: EventBridge envelopes (Health, Trusted Advisor) and the sample events' folder.
- ``lambda_shapes``: SQS records and events as Lambda receives them, and a Lambda context.
- ``probes``: waiting for a running stack, and reading key statuses and incidents from it.

Import the module you need: this package imports none of them, so that using one does not
load the dependencies of the others (slack_sdk for one).
"""
