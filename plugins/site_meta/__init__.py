from .site_meta import *  # noqa: F403
