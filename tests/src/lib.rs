//! Cluster test support; the tests themselves live in `tests/tests/`.
