"""animatorch_export: our own PyTorch definitions of the AnimateDiff (SD1.5) models,
TorchScript export and the ``model.yaml`` manifest (plus, from the loaders, checkpoint
conversion). Run scripts with Debian's /usr/bin/python3 (torch >= 1.13)."""

__version__ = "0.1.0"
