from .intake_form import register  # noqa: F401
