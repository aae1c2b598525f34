"""imaging-hub: a federated metadata search index for medical imaging.

The folders of the repository are mapped under this one import namespace
(``imaging_hub.schemas`` is ``schemas/``, ``imaging_hub.store`` is ``store/`` ...), so
generic folder names never collide with other installed distributions.
"""

__version__ = "0.1.0"
