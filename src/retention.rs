//! Forget policies: which snapshots to keep, and why.
