//! Admission policy for new work, free of HTTP: per-user [`quota`]s and the server's
//! [`capacity`]. Each check returns a domain error; `api/error.rs` turns it into a response.

pub mod capacity;
pub mod quota;
