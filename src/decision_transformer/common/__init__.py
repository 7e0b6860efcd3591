"""Infrastructure shared by the library's parts: atomic writes, run locks, threads and seeds at entry points,
precision, metrics logging, data-parallel helpers, env construction, derived seeds and provenance."""
