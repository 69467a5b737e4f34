"""Per-case preprocessing (documentation/method.md section 1): registration, brain mask, co-registration,
intensity normalisation, radiometric registration, subtraction and noise normalisation, contrast-signal
target.

Modules: ``registration`` (the one itk-elastix wrapper), ``brain_mask`` (atlas brain mask),
``coregistration`` (LD/SD onto the PC grid), and the intensity/noise steps in their own modules.
"""
