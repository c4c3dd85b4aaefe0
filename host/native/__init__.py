"""The native punktfunk/1 streaming path."""
