"""leak-responder: contain leaked AWS access keys the moment they are reported."""

__version__ = "0.1.0"
