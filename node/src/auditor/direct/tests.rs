//! Tests of the direct sync.
