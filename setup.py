"""Installation script of gdr_toolkit (console scripts are the commands users run)."""

from setuptools import find_packages, setup

COMMANDS = {
    "gdr_simulate_dataset": "gdr_toolkit.cli.simulate_dataset:main",
    "gdr_verify_dataset": "gdr_toolkit.cli.verify_dataset:main",
    "gdr_synthesize_low_dose": "gdr_toolkit.cli.synthesize_low_dose:main",
    "gdr_import_brats": "gdr_toolkit.cli.import_brats:main",
    "gdr_plan_experiment": "gdr_toolkit.cli.plan_experiment:main",
    "gdr_preprocess": "gdr_toolkit.cli.preprocess:main",
    "gdr_plan_and_preprocess": "gdr_toolkit.cli.plan_and_preprocess:main",
    "gdr_demo": "gdr_toolkit.cli.demo:main",
    "gdr_extract_fingerprint": "gdr_toolkit.cli.extract_fingerprint:main",
    "gdr_train": "gdr_toolkit.cli.train:main",
    "gdr_evaluate": "gdr_toolkit.cli.evaluate:main",
    "gdr_compare_predictions": "gdr_toolkit.cli.evaluate:compare_main",
    "gdr_export_model_to_zip": "gdr_toolkit.cli.model_sharing:export_main",
    "gdr_install_pretrained_model_from_zip": "gdr_toolkit.cli.model_sharing:install_main",
    "gdr_predict": "gdr_toolkit.cli.predict:main",
    "gdr_predict_from_modelfolder": "gdr_toolkit.cli.predict:main_from_modelfolder",
    "gdr_plot_embedding": "gdr_toolkit.cli.plot_embedding:main",
    "gdr_reproduce": "gdr_toolkit.cli.reproduce:main",
}

setup(
    name="gdr_toolkit",
    version="0.1.0",
    description="Self-configuring toolkit for gadolinium dose reduction in brain MRI (conditional contrast-signal network)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["gdr_toolkit", "gdr_toolkit.*"]),
    # the Colin27 anatomy of the simulator (BSD-3-clause, its licence file beside it; see README's Licence)
    package_data={"gdr_toolkit.simulation": ["data/*.nii.gz", "data/LICENSE_colin27.txt"]},
    install_requires=[
        "torch>=2.3",
        # batchgeneratorsv2 (MIC-DKFZ's successor of batchgenerators, which it installs): torch grid_sample
        # augmentation, 3-6x faster than classic batchgenerators on CPU (data_loading.md). Loader workers are
        # torch's DataLoader with persistent workers (training/data/worker_loader.py).
        "batchgeneratorsv2>=0.3",
        "SimpleITK>=2.3",
        # DICOM in and out: series validation, character sets, Enhanced MR frames and DICOMDIR, which
        # SimpleITK's GDCM does not expose (dataset/dicom_headers.py), and derived series written with exact
        # control over every attribute (explicit VR, UTF-8, sequences); 3.0 for dcmwrite(enforce_file_format=)
        "pydicom>=3.0",
        "itk-elastix>=0.20",
        "acvl-utils>=0.2",
        "numpy>=1.24",
        "scipy>=1.10",
        "blosc2>=2.5",
        "nibabel>=5.0",  # reads NIfTI values exactly (SimpleITK turns NaN into 0), for verification
        "nilearn>=0.10",  # ships the MNI152 template and tissue maps inside its wheel (no download)
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "scikit-learn>=1.2",  # t-SNE of gdr_plot_embedding: a well-kept implementation rather than a hand-written one
    ],
    extras_require={
        "test": ["pytest>=7", "ruff>=0.5", "mypy>=2.4"],
        # benchmarks/ only (classic batchgenerators: data_loading.py --compare-augmentation)
        "benchmark": ["dynamic-network-architectures>=0.4", "monai>=1.3", "batchgenerators>=0.25"],
    },
    entry_points={"console_scripts": [f"{name}={target}" for name, target in COMMANDS.items()]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
