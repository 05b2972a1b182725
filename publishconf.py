"""Production settings: only what differs from pelicanconf.py."""

import os
import sys

sys.path.append(os.curdir)
from pelicanconf import *  # noqa: E402,F403

SITEURL = os.environ.get("SITEURL", CLINIC["site_url"]).rstrip("/")  # noqa: F405
RELATIVE_URLS = False
DELETE_OUTPUT_DIRECTORY = True
LOAD_CONTENT_CACHE = False

# Drafts are previewed locally only; production never writes them.
DRAFT_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""

# Refuse to go live with placeholders, pages awaiting review, or the development form endpoint and key.
GO_LIVE_CHECKS = True
