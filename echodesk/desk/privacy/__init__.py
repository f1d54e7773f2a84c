"""A customer's data: erasure and export."""
