"""The streaming host: frame sources, encoders, the native and GameStream paths."""
