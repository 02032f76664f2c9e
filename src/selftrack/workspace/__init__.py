"""Middle layer: the workspace store (catalog + payload files) and import/export.

Imports the bottom layer (core, video, formats) only; never pipeline, cli or server.
"""

from selftrack.workspace.catalog import CatalogError
from selftrack.workspace.exports import export_dataset
from selftrack.workspace.importers import (
    import_detections,
    import_files,
    import_images,
    import_labelled_images,
    import_videos,
    safe_extract_zip,
)
from selftrack.workspace.lock import WorkspaceLock
from selftrack.workspace.maintenance import CheckReport, check_workspace, gc_files
from selftrack.workspace.store import Dataset, DatasetKind, DataType, Item, Workspace

__all__ = [
    "CatalogError",
    "CheckReport",
    "DataType",
    "Dataset",
    "DatasetKind",
    "Item",
    "Workspace",
    "WorkspaceLock",
    "check_workspace",
    "export_dataset",
    "gc_files",
    "import_detections",
    "import_files",
    "import_images",
    "import_labelled_images",
    "import_videos",
    "safe_extract_zip",
]
