"""The harness's own errors, kept apart from the node's (``caxton.CaxtonError``).

A ``UsageError`` is the user's to fix (a bad flag, a node that is not there) and
ends the command with exit code 2; a ``HarnessError`` means the run could not be
carried out as planned and is reported as a failed run.
"""

from __future__ import annotations


class ChaosError(Exception):
    """Base of every error the chaos harness raises."""


class UsageError(ChaosError):
    """The run was asked for in a way that cannot work; nothing was started."""


class HarnessError(ChaosError):
    """Something the harness needs (its node, its agents) could not be set up."""
