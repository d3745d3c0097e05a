//! crisiswatch
pub mod brands;
pub mod mention;
pub mod normalize;
pub mod stats;
pub mod time;
