"""Measurement: PSNR, SSIM, VMAF, rate, BD-rate, and the x264/x265 anchors."""
