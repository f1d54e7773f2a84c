"""The blob stores beside the local folder, and moving bytes between stores.

:mod:`~echodesk.store.blobstores.database` keeps the bytes in the configured
database, :mod:`~echodesk.store.blobstores.s3` in any S3-compatible service;
:mod:`~echodesk.store.blobstores.transfer` copies every key the database names
to another store (``echodesk blobs migrate``) and checks them (``blobs check``).
"""
