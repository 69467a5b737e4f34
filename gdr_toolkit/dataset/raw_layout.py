"""The raw dataset layout (nnU-Net-like) and its ``dataset.json`` description.

```
DatasetXXX_Name/
  dataset.json
  imagesTr/CASE_0000<ending>   pre-contrast T1w       imagesTr/CASE_0001<ending>   low-dose T1w
  targetsTr/CASE<ending>       standard-dose T1w      lesionsTr/CASE<ending>       lesion labels (optional)
  metadataTr/CASE.json         scanner metadata       imagesTs/, targetsTs/, lesionsTs/, metadataTs/
```
Any image may instead be a folder holding one DICOM series, named like the file without its ending
(``imagesTr/CASE_0000/``, ``targetsTr/CASE/``); a file of the same name wins over the folder.

A *pair dataset* (``channel_names`` ``{"0": ...}`` only) holds pre-contrast and standard-dose scans
without low dose (an archive, an imported BraTS folder): it is the input of ``gdr_synthesize_low_dose``,
which writes a training dataset from it; training stages refuse it (:func:`require_low_dose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gdr_toolkit.file_io import read_json, write_json_atomic

CHANNEL_NAMES = {"0": "T1_pre", "1": "T1_low"}
PAIR_CHANNEL_NAMES = {"0": "T1_pre"}
PRE_CONTRAST_CHANNEL = 0
LOW_DOSE_CHANNEL = 1
Split = Literal["Tr", "Ts"]


@dataclass(frozen=True)
class DatasetDescription:
    """Contents of ``dataset.json``."""

    name: str
    description: str = ""
    channel_names: dict[str, str] = field(default_factory=lambda: dict(CHANNEL_NAMES))
    file_ending: str = ".nii.gz"
    num_training: int = 0
    licence: str = ""
    metadata_keys: tuple[str, ...] = ("field_strength_t", "contrast_agent", "dose_fraction")
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "channel_names": self.channel_names,
            "file_ending": self.file_ending,
            "numTraining": self.num_training,
            "licence": self.licence,
            "metadata_keys": list(self.metadata_keys),
            **self.extra,
        }

    @property
    def has_low_dose(self) -> bool:
        """False for a pair dataset (PC + SD, no low-dose channel)."""
        return str(LOW_DOSE_CHANNEL) in self.channel_names


def load_dataset_description(dataset_folder: Path) -> DatasetDescription:
    """Read and check ``dataset.json``; errors name the file."""
    path = Path(dataset_folder) / "dataset.json"
    record = read_json(path)
    missing = [key for key in ("name", "channel_names", "file_ending", "numTraining") if key not in record]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}.")
    channels = {str(key): str(value) for key, value in record["channel_names"].items()}
    if set(channels) not in (set(CHANNEL_NAMES), set(PAIR_CHANNEL_NAMES)):
        raise ValueError(
            f"{path}: channel_names must have keys {sorted(CHANNEL_NAMES)} (0 = pre-contrast, 1 = low dose), "
            f"or {sorted(PAIR_CHANNEL_NAMES)} for a pair dataset without low dose; got {sorted(channels)}."
        )
    ending = str(record["file_ending"])
    if not ending.startswith("."):
        raise ValueError(f"{path}: file_ending must start with '.', got {ending!r}.")
    known = {"name", "description", "channel_names", "file_ending", "numTraining", "licence", "metadata_keys"}
    return DatasetDescription(
        name=str(record["name"]),
        description=str(record.get("description", "")),
        channel_names=channels,
        file_ending=ending,
        num_training=int(record["numTraining"]),
        licence=str(record.get("licence", "")),
        metadata_keys=tuple(record.get("metadata_keys", ())),
        extra={key: value for key, value in record.items() if key not in known},
    )


def require_low_dose(dataset_folder: Path) -> None:
    """Refuse a pair dataset (no low-dose channel) where training data are needed.

    Raises:
        ValueError: naming the dataset and the command that makes a training dataset from it.
    """
    folder = Path(dataset_folder)
    if not load_dataset_description(folder).has_low_dose:
        raise ValueError(
            f"{folder / 'dataset.json'}: {folder.name} holds pre-contrast and standard-dose pairs without a "
            "low-dose channel (channel_names has no '1'); it cannot be trained on. Make a training dataset "
            f"with simulated low doses first: gdr_synthesize_low_dose -d {folder.name} --doses 0.1 0.33"
        )


def write_dataset_description(dataset_folder: Path, description: DatasetDescription) -> None:
    write_json_atomic(description.to_json_dict(), Path(dataset_folder) / "dataset.json")


@dataclass(frozen=True)
class RawCase:
    """File locations of one case (files need not exist: verification checks that)."""

    case_id: str
    split: Split
    pre_contrast: Path
    low_dose: Path
    standard_dose: Path
    lesions: Path
    metadata: Path

    def channel_path(self, channel: int) -> Path:
        return (self.pre_contrast, self.low_dose)[channel]


def image_location(folder: Path, name: str, file_ending: str) -> Path:
    """``folder/name<ending>``, or the DICOM series folder ``folder/name/`` when only that exists."""
    file = folder / f"{name}{file_ending}"
    series = folder / name
    return series if not file.exists() and series.is_dir() else file


def case_files(dataset_folder: Path, case_id: str, split: Split, file_ending: str) -> RawCase:
    """Where the files (or DICOM series folders) of ``case_id`` live in ``split``."""
    folder = Path(dataset_folder)
    images = folder / f"images{split}"
    return RawCase(
        case_id=case_id,
        split=split,
        pre_contrast=image_location(images, f"{case_id}_{PRE_CONTRAST_CHANNEL:04d}", file_ending),
        low_dose=image_location(images, f"{case_id}_{LOW_DOSE_CHANNEL:04d}", file_ending),
        standard_dose=image_location(folder / f"targets{split}", case_id, file_ending),
        lesions=image_location(folder / f"lesions{split}", case_id, file_ending),
        metadata=folder / f"metadata{split}" / f"{case_id}.json",
    )


def _strip(path: Path, ending: str, series_folders: bool = True) -> str | None:
    """The name without ``ending`` (a folder: the whole name, as a DICOM series); None for other entries."""
    name = path.name
    if name.startswith("."):
        return None
    if path.is_dir():
        return name if series_folders else None
    return name[: -len(ending)] if name.endswith(ending) else None


def _channel_entry(path: Path, file_ending: str) -> tuple[str, int] | None:
    """(case id, channel) of an ``images`` entry ``CASE_XXXX<ending>`` or ``CASE_XXXX/``, else None."""
    stem = _strip(path, file_ending)
    if stem is not None and len(stem) > 5 and stem[-5] == "_" and stem[-4:].isdigit():
        return stem[:-5], int(stem[-4:])
    return None


def discover_case_ids(dataset_folder: Path, split: Split, file_ending: str) -> list[str]:
    """Case ids seen in any of the split's folders (so a case missing one file is still found)."""
    folder = Path(dataset_folder)
    ids: set[str] = set()
    images = folder / f"images{split}"
    if images.is_dir():
        ids.update(entry[0] for path in images.iterdir() if (entry := _channel_entry(path, file_ending)))
    for sub, ending in ((f"targets{split}", file_ending), (f"metadata{split}", ".json")):
        if (folder / sub).is_dir():
            series = sub.startswith("targets")
            ids.update(stem for path in (folder / sub).iterdir() if (stem := _strip(path, ending, series)))
    return sorted(ids)


def unmatched_entries(dataset_folder: Path, split: Split, file_ending: str) -> list[Path]:
    """Entries of ``images<split>`` that are no channel of the layout: a channel other than 0000/0001,
    another ending, a stray file (hidden files are ignored)."""
    images = Path(dataset_folder) / f"images{split}"
    if not images.is_dir():
        return []
    channels = (PRE_CONTRAST_CHANNEL, LOW_DOSE_CHANNEL)
    return sorted(
        path
        for path in images.iterdir()
        if not path.name.startswith(".")
        and ((entry := _channel_entry(path, file_ending)) is None or entry[1] not in channels)
    )


def list_cases(dataset_folder: Path, split: Split = "Tr", file_ending: str | None = None) -> list[RawCase]:
    """All cases of a split (``file_ending`` defaults to dataset.json's)."""
    if file_ending is None:
        file_ending = load_dataset_description(dataset_folder).file_ending
    return [
        case_files(dataset_folder, case_id, split, file_ending)
        for case_id in discover_case_ids(dataset_folder, split, file_ending)
    ]
