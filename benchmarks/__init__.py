"""Benchmarks: speed of the prior, PSNR/SSIM tables (not part of the test suite)."""
