"""The clinic staff's tools for the intake form, run on a staff computer: the clinic's key pair
(`invoke keygen`, keys.py), decrypting what the form service stored (`invoke decrypt`, readers.py
and decrypt.py), and the offline staff inbox (`invoke inbox`, inbox.py and inbox/).

Not part of the Pelican build (the plugin in plugins/intake_form/ never imports this package) and
not in the receiver's container image (receiver/ never imports it either). These tools use the
form's public-key primitives from the plugin (intake_form.keys, so plugins/ must be on sys.path:
tasks.py and tests/conftest.py put it there).
"""
