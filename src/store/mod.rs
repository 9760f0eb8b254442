//! Persistence (see issue 3).
