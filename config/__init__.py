"""Settings and policy defaults.

Nothing here imports the rest of the project: every other layer receives a
`Settings` (and the `Policy` inside it) built once at the edge (CLI, server, tests).
"""

from config.policy import Policy, load_policy
from config.settings import MailSettings, Settings

__all__ = ["MailSettings", "Policy", "Settings", "load_policy"]
