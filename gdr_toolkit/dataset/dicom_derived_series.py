"""The attributes of a synthetic MR series derived from PC and LD (documentation/dicom.md, "Tags").

Pure construction of pydicom data sets; ``dicom_io.write_dicom_series`` adds pixels and writes files.
What a series carries, by origin:

- patient, study, frame of reference, acquisition (MR Image module) attributes: copied from the PC
  series' headers (:data:`COPIED_KEYWORDS`); where PC is not DICOM, an identity derived from the case
  name (:func:`case_identity`: PatientID = case name, study and frame of reference UIDs that a rerun
  reproduces) and documented defaults for the Type 1/2 attributes (:data:`MR_DEFAULTS`);
- equipment: gdr_toolkit, its version and the model's fingerprint (:class:`Provenance`);
- marking: ImageType ``DERIVED\\SECONDARY\\OTHER\\SYNTHETIC``, ImageComments, BurnedInAnnotation ``NO``;
- references (per slice, :func:`add_slice_references`): SourceImageSequence (the PC slice at the same
  position and the nearest LD slice), the same instances by series in the Common Instance Reference
  module; DerivationCodeSequence.
Text is written in UTF-8 (SpecificCharacterSet ``ISO_IR 192``).
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from gdr_toolkit import __version__
from gdr_toolkit.dataset.dicom_headers import slice_position

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
UTF8_CHARACTER_SET = "ISO_IR 192"
MANUFACTURER = "gdr_toolkit"
IMAGE_TYPE = ("DERIVED", "SECONDARY", "OTHER", "SYNTHETIC")
MAX_LONG_STRING = 64  # LO (SeriesDescription, ManufacturerModelName, SoftwareVersions values)
# Namespace of the name-based (UUID version 5) UIDs of a case without DICOM PC: fixed forever, so that a
# rerun gives the same patient's study and frame of reference the same UIDs.
CASE_UID_NAMESPACE = uuid.uuid5(
    uuid.NAMESPACE_URL, "https://github.com/gdr-toolkit/gdr_toolkit/case-identity"
)
# Copied from the PC series when present there (patient, study, frame of reference, acquisition).
COPIED_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "PatientWeight", "PatientSize", "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "StudyID", "FrameOfReferenceUID",
    "PositionReferenceIndicator", "PatientPosition", "BodyPartExamined", "Laterality",
    "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType", "SequenceName",
    "RepetitionTime", "EchoTime", "EchoTrainLength", "InversionTime", "FlipAngle", "EchoNumbers",
    "NumberOfAverages", "ImagingFrequency", "ImagedNucleus", "MagneticFieldStrength", "SliceThickness",
    "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
)  # fmt: skip
# Type 1 and 2 attributes of the MR Image IOD when PC has none (a NIfTI PC): empty where unknown (Type 2),
# "RM" (research mode) and "NONE" for the Type 1 sequence attributes, HFS and BRAIN for a brain scan
# (BodyPartExamined BRAIN, an unpaired part, is what makes Laterality (2C) not needed).
MR_DEFAULTS = {
    "PatientName": "", "PatientBirthDate": "", "PatientSex": "", "StudyDate": "", "StudyTime": "",
    "AccessionNumber": "", "ReferringPhysicianName": "", "StudyID": "", "BodyPartExamined": "BRAIN",
    "PositionReferenceIndicator": "", "PatientPosition": "HFS", "ScanningSequence": "RM",
    "SequenceVariant": "NONE", "ScanOptions": "", "MRAcquisitionType": "3D", "RepetitionTime": None,
    "EchoTime": None, "EchoTrainLength": None,
}  # fmt: skip
SOURCE_IMAGE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
DERIVATION_CODES = (
    ("113085", "DCM", "Spatial resampling"),  # LD registered and resampled onto PC's grid
    ("113042", "DCM", "Pixel by pixel addition"),  # PC (or LD) + predicted contrast signal
)


@dataclass(frozen=True)
class Provenance:
    """Who made the series (General Equipment module).

    Attributes:
        model_name: ManufacturerModelName, e.g. ``Trainer__plans__3d_fullres`` (cut to 64 characters).
        model_fingerprint: a short hash of the model's checkpoints (``inference/model_fingerprint.py``).
        software_version: gdr_toolkit's version.
    """

    model_name: str = ""
    model_fingerprint: str = ""
    software_version: str = __version__

    def software_versions(self) -> list[str]:
        values = [f"gdr_toolkit {self.software_version}"]
        return values + ([f"model {self.model_fingerprint}"] if self.model_fingerprint else [])


@dataclass(frozen=True, eq=False)
class SeriesSources:
    """What a derived series is made from.

    Attributes:
        case_id: the case name; gives the identity of a case whose PC is not DICOM (:func:`case_identity`).
        pre_contrast: PC's headers (``dicom_headers.read_series_headers``); empty when PC is not DICOM.
        low_dose: LD's headers; empty when LD is not DICOM.
        provenance: software and model.
        reference_tags: ``gggg|eeee`` tags of a SimpleITK image (``dicom_io.dicom_tags``), used where
            PC's headers are absent (a series made from an image read elsewhere).
    """

    case_id: str | None = None
    pre_contrast: tuple[Dataset, ...] = ()
    low_dose: tuple[Dataset, ...] = ()
    provenance: Provenance = Provenance()
    reference_tags: dict[str, str] = field(default_factory=dict)


def case_uid(case_id: str, purpose: str) -> str:
    """A UID that depends only on ``case_id`` and ``purpose`` ("study", "frame_of_reference").

    ``2.25.<integer of a name-based UUID (version 5)>`` (ISO/IEC 9834-8): at most 44 characters.
    """
    return f"2.25.{uuid.uuid5(CASE_UID_NAMESPACE, f'{purpose}/{case_id}').int}"


def case_identity(case_id: str) -> dict[str, str]:
    """Patient and study of a case without DICOM PC: PatientID and PatientName from the case name (cut to
    64 characters), one study and one frame of reference per case, the same on every run."""
    return {
        "PatientID": case_id[:MAX_LONG_STRING],
        "PatientName": f"{case_id[: MAX_LONG_STRING - 1]}^",  # family name = case name
        "StudyInstanceUID": case_uid(case_id, "study"),
        "FrameOfReferenceUID": case_uid(case_id, "frame_of_reference"),
        "StudyDescription": "gdr_toolkit synthetic images",
    }


def _copied(header: Dataset) -> Dataset:
    """The :data:`COPIED_KEYWORDS` present in ``header``, text decoded (PersonName as plain text)."""
    copied = Dataset()
    for keyword in COPIED_KEYWORDS:
        if keyword in header:
            element = copy.deepcopy(header[keyword])
            if element.VR == "PN" and element.value is not None:
                element.value = str(element.value)
            copied.add(element)
    return copied


def _from_reference_tags(tags: dict[str, str]) -> Dataset:
    """The :data:`COPIED_KEYWORDS` among ``gggg|eeee`` tags (values as the SimpleITK strings)."""
    dataset = Dataset()
    for key, value in tags.items():
        tag = int(key.replace("|", ""), 16)
        keyword = keyword_for_tag(tag)
        if keyword in COPIED_KEYWORDS and value.strip():
            setattr(dataset, keyword, value.strip())
    return dataset


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _identity(sources: SeriesSources) -> Dataset:
    """Patient, study, frame of reference and acquisition: PC headers, else reference tags, else the
    case identity, else generated (random) UIDs; Type 2 gaps filled from :data:`MR_DEFAULTS`."""
    if sources.pre_contrast:
        base = _copied(sources.pre_contrast[0])
    else:
        base = _from_reference_tags(sources.reference_tags)
        if sources.case_id is not None and "PatientID" not in base:
            for keyword, value in case_identity(sources.case_id).items():
                setattr(base, keyword, value)
    base.setdefault("PatientID", "GDR_ANONYMOUS")
    base.setdefault("StudyInstanceUID", f"2.25.{uuid.uuid4().int}")
    base.setdefault("FrameOfReferenceUID", f"2.25.{uuid.uuid4().int}")
    for keyword, default in MR_DEFAULTS.items():
        if keyword not in base:
            setattr(base, keyword, default)
    return base


def _lossy(sources: SeriesSources) -> str | None:
    """``01`` when PC or LD was lossy compressed, ``00`` when either says it was not, else None."""
    flags = {
        str(headers[0].get("LossyImageCompression", ""))
        for headers in (sources.pre_contrast, sources.low_dose)
        if headers
    }
    return "01" if "01" in flags else ("00" if "00" in flags else None)


def series_dataset(
    sources: SeriesSources, description: str, series_number: int, comments: str, now: datetime.datetime
) -> Dataset:
    """The attributes shared by every slice of one derived series (no per-slice or pixel attributes).

    Args:
        sources: PC/LD headers, case name and provenance.
        description: SeriesDescription, at most 64 characters.
        series_number: SeriesNumber.
        comments: ImageComments (the synthetic-image warning).
        now: the time of writing (SeriesDate/Time, ContentDate/Time, InstanceCreationDate/Time).
    """
    if len(description) > MAX_LONG_STRING:
        raise ValueError(
            f"SeriesDescription must be at most 64 characters, got {len(description)}: {description!r}"
        )
    dataset = _identity(sources)
    dataset.SpecificCharacterSet = UTF8_CHARACTER_SET
    dataset.SOPClassUID = MR_IMAGE_STORAGE
    dataset.Modality = "MR"
    dataset.ImageType = list(IMAGE_TYPE)
    dataset.SeriesInstanceUID = f"2.25.{uuid.uuid4().int}"
    dataset.SeriesNumber = series_number
    dataset.SeriesDescription = description
    dataset.ImageComments = comments
    dataset.BurnedInAnnotation = "NO"
    lossy = _lossy(sources)
    if lossy is not None:
        dataset.LossyImageCompression = lossy
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    dataset.SeriesDate = dataset.ContentDate = dataset.InstanceCreationDate = date
    dataset.SeriesTime = dataset.ContentTime = dataset.InstanceCreationTime = time
    dataset.Manufacturer = MANUFACTURER
    dataset.ManufacturerModelName = sources.provenance.model_name[:MAX_LONG_STRING]
    dataset.SoftwareVersions = [value[:MAX_LONG_STRING] for value in sources.provenance.software_versions()]
    agent = sources.low_dose[0].get("ContrastBolusAgent") if sources.low_dose else None
    if agent:
        dataset.ContrastBolusAgent = str(agent)
    dataset.DerivationDescription = _derivation_description(sources)
    dataset.DerivationCodeSequence = DicomSequence([_code(*code) for code in DERIVATION_CODES])
    return dataset


def _derivation_description(sources: SeriesSources) -> str:
    parts = []
    for name, headers in (("pre-contrast", sources.pre_contrast), ("low-dose", sources.low_dose)):
        if headers and "SeriesInstanceUID" in headers[0]:
            parts.append(f"{name} series {headers[0].SeriesInstanceUID}")
    source = f" from {' and '.join(parts)}" if parts else ""
    version = sources.provenance.software_versions()
    return f"synthesised by {', '.join(version)}{source}; not for diagnosis"[:1024]


def add_slice_references(dataset: Dataset, pc_slice: Dataset | None, ld_slice: Dataset | None) -> None:
    """References of one output slice: SourceImageSequence naming the PC slice it lies on and the LD slice
    nearest to it (LD was registered and resampled onto PC's grid, so neighbouring LD slices contribute
    too), and the Common Instance Reference module listing those instances by series. A series of another
    study than ``dataset``'s goes under StudiesContainingOtherReferencedInstancesSequence."""
    referenced = [
        header for header in (pc_slice, ld_slice) if header is not None and "SOPInstanceUID" in header
    ]
    referenced = [header for header in referenced if "SOPClassUID" in header]
    if not referenced:
        return
    items = []
    for header in referenced:
        item = _instance(header)
        item.PurposeOfReferenceCodeSequence = DicomSequence([_code(*SOURCE_IMAGE_PURPOSE)])
        items.append(item)
    dataset.SourceImageSequence = DicomSequence(items)
    same_study: list[Dataset] = []
    other_studies: dict[str, list[Dataset]] = {}
    for header in referenced:
        if "SeriesInstanceUID" not in header:
            continue
        series = Dataset()
        series.SeriesInstanceUID = header.SeriesInstanceUID
        series.ReferencedInstanceSequence = DicomSequence([_instance(header)])
        study = str(header.get("StudyInstanceUID", ""))
        if study and study != str(dataset.StudyInstanceUID):
            other_studies.setdefault(study, []).append(series)
        else:
            same_study.append(series)
    if same_study:
        dataset.ReferencedSeriesSequence = DicomSequence(same_study)
    if other_studies:
        studies = []
        for study, series_items in other_studies.items():
            study_item = Dataset()
            study_item.StudyInstanceUID = study
            study_item.ReferencedSeriesSequence = DicomSequence(series_items)
            studies.append(study_item)
        dataset.StudiesContainingOtherReferencedInstancesSequence = DicomSequence(studies)


def _instance(header: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    return item


def nearest_slices(
    headers: Sequence[Dataset], positions_mm: np.ndarray, normal: np.ndarray, tolerance_mm: float = np.inf
) -> list[Dataset | None]:
    """For each output slice position, the header whose position along ``normal`` is nearest to it.

    Args:
        headers: single-frame headers (those without a position or SOPInstanceUID are ignored).
        positions_mm: (n, 3) output slice positions (mm, LPS).
        normal: (3,) unit slice normal of the output.
        tolerance_mm: farther than this gives None for that slice.

    Returns:
        n headers or None (none within the tolerance, or no usable header).
    """
    usable = [
        header for header in headers if slice_position(header) is not None and "SOPInstanceUID" in header
    ]
    if not usable:
        return [None] * len(positions_mm)
    depths = np.array([float(slice_position(header) @ normal) for header in usable])
    distances = np.abs(np.asarray(positions_mm) @ normal - depths[:, None])  # (headers, slices)
    nearest = np.argmin(distances, axis=0)
    return [
        usable[index] if distances[index, column] <= tolerance_mm else None
        for column, index in enumerate(nearest)
    ]
