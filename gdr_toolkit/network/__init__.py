"""The conditional 3D U-Net (documentation/method.md section 3) and its analytic cost model.

Modules, one public class each: ``condition_embedding`` (c -> e), ``conditional_residual_block`` (CRB),
``blur_pool`` (anti-aliased downsampling), ``gated_upsampling`` (skip fusion), ``unet``
(``NetworkConfig``, ``ConditionalUNet``); the 2.5D baseline ``unet_2d`` (``UNet2d``) and
``slice_stack_unet`` (``SliceStackConfig``, ``SliceStackUNet``); ``architectures`` (network classes by
name, to rebuild a checkpoint's network); ``memory_estimate`` (parameters, FLOPs, peak training memory)
and ``memory_measurement`` (a measured training step, for calibration). See documentation/network.md.
"""
