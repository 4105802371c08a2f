"""The sealer command line."""
