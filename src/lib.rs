//! sharegrad
