"""Slack adapters: messages, the Notifier, message updates and interactivity.

This is the only package that imports slack_sdk. The responder imports it lazily, at notify time,
after the leaked key is already Inactive (see ``factory.build_slack_notifier``).
"""
