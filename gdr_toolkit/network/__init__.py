"""The conditional 3D U-Net (method.md section 3) and its analytic cost model.

Modules, one public class each: ``condition_embedding`` (c -> e), ``conditional_residual_block`` (CRB),
``blur_pool`` (anti-aliased downsampling), ``gated_upsampling`` (skip fusion), ``unet``
(``NetworkConfig``, ``ConditionalUNet``); ``memory_estimate`` (parameters, FLOPs, peak training memory)
and ``memory_measurement`` (a measured training step, for calibration). See documentation/network.md.
"""
