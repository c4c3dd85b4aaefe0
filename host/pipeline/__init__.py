"""What every streaming path shares: frame sources, encoders, the capture/encode process,
session processes and their shared memory, and each path's declared stage map."""
