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

# The clinic's public key for the intake form, once `invoke keygen` has written it (until then the
# development key stays, and the go-live checklist says so). INTAKE_PUBLIC_KEY still overrides it.
if (HERE / "content" / "keys" / "intake-public.pem").is_file():  # noqa: F405
    INTAKE_FORM = {**INTAKE_FORM, "public_key": "content/keys/intake-public.pem"}  # noqa: F405

# Refuse to go live with placeholders, pages awaiting review, or the development form endpoint and key.
GO_LIVE_CHECKS = True
