from .clinic_facts import *  # noqa: F403
