//! Dialogue policy (see issue 3).
