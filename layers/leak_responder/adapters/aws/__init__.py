"""AWS adapters. Clients are always passed in; nothing here creates one at import time."""
