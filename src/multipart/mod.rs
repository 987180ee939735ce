//! Multipart form bodies, both ways. Received on a [`Request`](crate::Request), as Go's
//! `r.MultipartReader`, `r.ParseMultipartForm` and `r.FormFile`: a streaming reader of parts
//! over the request body, and a whole form read into memory with files past a memory limit
//! spilled to temporary files that are removed when the request (its form) is dropped. Sent,
//! as Go's `multipart.Writer`: a [`Writer`] (in writer.rs) lists the parts and streams them as
//! a request body. The wire format is parsed and encoded by the sans-IO `proto::multipart`.
//!
//! Feature `multipart` (on by default, and with `server`). The receiving side (reader.rs:
//! `MultipartReader`, `MultipartForm`, `FileHeader`) needs `server`; `multipart` alone is the
//! [`Writer`] a client uploads with.

#[cfg(feature = "server")]
mod reader;
mod writer;

pub use crate::proto::multipart::{field_content_disposition, file_content_disposition};
#[cfg(feature = "server")]
pub(crate) use reader::read_form;
#[cfg(feature = "server")]
pub use reader::{FileHeader, MultipartForm, MultipartReader, Part, DEFAULT_MAX_MEMORY};
pub use writer::Writer;
