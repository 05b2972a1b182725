"""The clinic's form endpoint: a small service that stores the intake form's ciphertext.

The site's form encrypts every answer in the visitor's browser and posts only a compact JWE. This
service checks the post's shape (origin, content type, size, fields, JWE header), stores the
ciphertext with its receipt time in SQLite (one machine) or PostgreSQL (production), answers 201
only once the row is committed, and lets staff download an export that the staff inbox and
`invoke decrypt` read. It never decrypts anything and never logs a body, an id or an address.

It is deployed on its own (receiver/Dockerfile, docs/receiver.md), not with the Pelican build:
`python -m receiver --help`.
"""
