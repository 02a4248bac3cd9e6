//! Label and field selectors as accepted by list/watch query parameters.

pub mod fields;
pub mod labels;
pub mod validation;
