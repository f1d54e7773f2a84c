"""Mail coming in: accepting, sender checks, the worker, deciding and writing a batch."""
