//! Tests of the satker share.
