"""Middle layer: the workspace store (catalog + payload files) and import/export.

Imports the bottom layer (core, video, formats) only; never pipeline, cli or server.
"""

from selftrack.workspace.importers import (
    export_dataset,
    import_detections,
    import_files,
    import_images,
    import_labelled_images,
    import_videos,
    safe_extract_zip,
)
from selftrack.workspace.store import Dataset, DatasetKind, DataType, Item, Workspace

__all__ = [
    "DataType",
    "Dataset",
    "DatasetKind",
    "Item",
    "Workspace",
    "export_dataset",
    "import_detections",
    "import_files",
    "import_images",
    "import_labelled_images",
    "import_videos",
    "safe_extract_zip",
]
