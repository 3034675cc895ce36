"""OpenWhisk runtime manifest support: load and check a manifest, list its images, render RUNTIMES_MANIFEST.

Pure Python (pydantic only); the Pulumi program imports it, never the other way round.
"""

from runtimes.manifest import (
    ALLOW_MUTABLE_SETTING,
    DEFAULT_MANIFEST,
    MUTABLE_TAGS,
    Attachment,
    ImageName,
    Manifest,
    ManifestError,
    Reactive,
    RuntimeKind,
    StemCell,
    image_ref,
    images,
    load_manifest,
    render,
    stem_cell_memory_mb,
)

__all__ = [
    "ALLOW_MUTABLE_SETTING",
    "DEFAULT_MANIFEST",
    "MUTABLE_TAGS",
    "Attachment",
    "ImageName",
    "Manifest",
    "ManifestError",
    "Reactive",
    "RuntimeKind",
    "StemCell",
    "image_ref",
    "images",
    "load_manifest",
    "render",
    "stem_cell_memory_mb",
]
