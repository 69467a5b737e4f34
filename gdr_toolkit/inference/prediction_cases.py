"""The cases of a prediction input folder and where each case's metadata comes from.

Input folder: the raw layout's image naming, ``CASE_0000<ending>`` (PC) and ``CASE_0001<ending>`` (LD),
any ending SimpleITK reads (``.nii.gz``, ``.nii``, ``.mha``, ``.nrrd`` ...), or folders ``CASE_0000/`` and
``CASE_0001/`` each holding one DICOM series (beside or instead of files; a file wins over a folder).

Metadata of a case, first found wins: the metadata given for every case (command-line flags); else
``CASE.json`` in the ``--metadata`` folder when one is given (nothing else is searched); else
``CASE.json`` in the input folder, then in the sibling metadata folder (``imagesTs`` -> ``metadataTs``,
``imagesTr`` -> ``metadataTr``); else, when LD is a DICOM series folder, its headers
(``dataset/dicom_metadata.py``: field strength, agent, dose from volume and weight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gdr_toolkit.dataset.case_identity import check_case_identity
from gdr_toolkit.dataset.dicom_metadata import metadata_from_series
from gdr_toolkit.dataset.metadata import CaseMetadata, load_case_metadata
from gdr_toolkit.dataset.raw_layout import LOW_DOSE_CHANNEL, PRE_CONTRAST_CHANNEL

CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})(?P<ending>\..+)$")
CHANNEL_SERIES_FOLDER = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


@dataclass(frozen=True)
class PredictionCase:
    """The inputs of one case (files need not exist: reading reports that for this case only).

    Attributes:
        case_id: the case.
        pre_contrast: PC image file.
        low_dose: LD image file.
        metadata_file: ``CASE.json`` to read, or None.
        metadata: metadata given directly (overrides ``metadata_file``), or None.
    """

    case_id: str
    pre_contrast: Path
    low_dose: Path
    metadata_file: Path | None = None
    metadata: CaseMetadata | None = None

    def check_files(self) -> None:
        """Raise FileNotFoundError naming the missing image file(s) of the case."""
        missing = [str(path) for path in (self.pre_contrast, self.low_dose) if not path.exists()]
        if missing:
            raise FileNotFoundError(f"case {self.case_id!r}: missing input file(s) {', '.join(missing)}")

    def check_identity(self, allow_mismatch: bool) -> None:
        """Raise CaseIdentityError when PC and LD (DICOM series) differ in patient, study or frame of
        reference (``dataset/case_identity.py``); with ``allow_mismatch`` only log it."""
        check_case_identity(self.case_id, {"PC": self.pre_contrast, "LD": self.low_dose}, allow_mismatch)

    def load_metadata(self) -> CaseMetadata | None:
        """The given metadata, else ``CASE.json``, else LD's DICOM headers, else None.

        Raises:
            HeaderMetadataError: no JSON, LD is a DICOM series and its headers lack metadata (names the
                folder and the attributes).
        """
        if self.metadata is not None:
            return self.metadata
        if self.metadata_file is not None:
            return load_case_metadata(self.metadata_file)
        return metadata_from_series(self.low_dose) if self.low_dose.is_dir() else None


def sibling_metadata_folder(input_folder: Path) -> Path | None:
    """``.../imagesTs`` -> ``.../metadataTs`` (any ``images*`` name); None for other names."""
    name = Path(input_folder).name
    return (
        Path(input_folder).with_name("metadata" + name[len("images") :])
        if name.startswith("images")
        else None
    )


def find_metadata_file(case_id: str, input_folder: Path, metadata_folder: Path | None) -> Path | None:
    """Where the case's ``CASE.json`` is (lookup order: module docstring), or None."""
    if metadata_folder is not None:
        candidates: list[Path | None] = [Path(metadata_folder)]
    else:
        candidates = [Path(input_folder), sibling_metadata_folder(input_folder)]
    for folder in candidates:
        if folder is not None and (folder / f"{case_id}.json").is_file():
            return folder / f"{case_id}.json"
    return None


def find_cases(
    input_folder: Path | str,
    metadata_folder: Path | None = None,
    metadata: CaseMetadata | None = None,
) -> list[PredictionCase]:
    """Cases of an input folder (a case is any id with a channel 0000 or 0001 file), sorted by id.

    Raises:
        FileNotFoundError: the folder does not exist or holds no ``CASE_000X`` images.
    """
    input_folder = Path(input_folder)
    if not input_folder.is_dir():
        raise FileNotFoundError(f"input folder {input_folder} does not exist.")
    found: dict[str, dict[int, Path]] = {}
    for path in sorted(input_folder.iterdir(), key=lambda entry: (entry.is_file(), entry.name)):
        pattern = CHANNEL_FILE if path.is_file() else CHANNEL_SERIES_FOLDER
        match = pattern.match(path.name)
        if match and not path.name.startswith("."):  # files come last: a file wins over a series folder
            found.setdefault(match["case"], {})[int(match["channel"])] = path
    if not found:
        raise FileNotFoundError(
            f"{input_folder} holds no images named CASE_0000<ending> (pre-contrast) / CASE_0001<ending> (low dose)."
        )
    cases = []
    for case_id, channels in sorted(found.items()):
        files = [CHANNEL_FILE.match(path.name) for path in channels.values() if path.is_file()]
        ending = files[0]["ending"] if files and files[0] else ""  # a series folder has no ending
        paths = [
            channels.get(channel, input_folder / f"{case_id}_{channel:04d}{ending}")
            for channel in (PRE_CONTRAST_CHANNEL, LOW_DOSE_CHANNEL)
        ]
        metadata_file = (
            None if metadata is not None else find_metadata_file(case_id, input_folder, metadata_folder)
        )
        cases.append(PredictionCase(case_id, paths[0], paths[1], metadata_file, metadata))
    return cases
