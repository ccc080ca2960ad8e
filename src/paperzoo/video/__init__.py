"""Video action recognition: 3D CNNs (C3D, R3D, R(2+1)D, T3D, I3D, S3D, SlowFast, X3D), the
single-frame baseline, clip sampling, transforms and multi-view testing."""
