"""gdr_toolkit: self-configuring gadolinium dose reduction for brain MRI.

The package mirrors the pipeline: dataset -> fingerprint -> planning -> preprocessing -> network ->
training -> inference -> evaluation, with a physics simulator (``simulation``) for data-free use.
"""

__version__ = "0.1.0"
