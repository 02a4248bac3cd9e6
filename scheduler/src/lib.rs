//! scheduler library.
