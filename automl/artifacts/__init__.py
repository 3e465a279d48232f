"""Model artifacts: save and load with a checksummed manifest."""

from automl.artifacts.store import load_model, read_manifest, save_model, verify

__all__ = ["load_model", "read_manifest", "save_model", "verify"]
