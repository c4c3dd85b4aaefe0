"""The management process: aggregator, StatsRecorder, REST API, console, supervision."""
