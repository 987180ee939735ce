//! HPACK, the header compression of HTTP/2 (RFC 7541), sans-IO: header blocks in and out.
//!
//! HTTP/2 connections (feature `http2`, server and client) use it: each keeps one
//! [`Decoder`] for the header blocks it receives and one [`Encoder`] for those it sends, each
//! with its dynamic table, for the connection's life.
//!
//! - [`Decoder`] turns a whole header block (the fragments of a `HEADERS` or `PUSH_PROMISE`
//!   frame and its `CONTINUATION`s, joined) into [`Field`]s. It enforces the table size this
//!   end advertised (a size update must come at the start of a block and stay within it), a
//!   header list size (RFC 9113 §6.5.2) and a string length limit. Anything malformed is a
//!   `COMPRESSION_ERROR` connection error; a header list over its limit is
//!   [`TooLarge::Head`](crate::error::TooLarge::Head), after which the decoder is still in step
//!   with the peer, so only the one stream need fail (a server answers 431).
//! - [`Encoder`] turns fields into a block: fields found in a table are indexed, ordinary
//!   fields are literals with incremental indexing, [`sensitive`](Field::sensitive) ones
//!   (credentials, cookies, when the caller marks them) are never indexed, and strings are
//!   Huffman-coded when that is shorter. [`Encoder::encode_refs`] takes [`FieldRef`]s,
//!   borrowed from wherever the octets are, and gives the same block. It follows the table size the peer allows, up to a cap
//!   of its own, and signals each change with a size update at the start of the next block.
//! - [`huffman`], [`integer`]: the string and integer codings (§5), usable alone.
//!
//! Names and values are octets here; whether they are valid HTTP fields (lowercase names,
//! pseudo-headers first, no connection-specific fields: RFC 9113 §8.2) is for the layer above.
//!
//! ```
//! use nethttp::proto::hpack::{Decoder, Encoder, Field, DEFAULT_TABLE_SIZE};
//!
//! let fields = vec![
//!     Field::new(":method", "GET"),
//!     Field::new(":path", "/"),
//!     Field::new("user-agent", "nethttp"),
//!     Field::sensitive("authorization", "Bearer secret"),
//! ];
//! let mut enc = Encoder::new(DEFAULT_TABLE_SIZE);
//! let mut block = Vec::new();
//! enc.encode(&fields, &mut block);
//!
//! let mut dec = Decoder::new(DEFAULT_TABLE_SIZE);
//! assert_eq!(dec.decode(&block)?, fields);
//! # Ok::<(), nethttp::Error>(())
//! ```

mod decoder;
mod encoder;
pub mod huffman;
pub mod integer;
mod table;

pub use decoder::Decoder;
pub use encoder::{Encoder, HuffmanPolicy};
pub use table::entry_size;

/// The dynamic table size both ends start with in HTTP/2: the initial value of
/// `SETTINGS_HEADER_TABLE_SIZE` (RFC 9113 §6.5.2), 4096 octets.
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// One header field: a name and a value, as octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field name (lowercase in HTTP/2, which the layer above checks).
    pub name: Vec<u8>,
    /// The field value.
    pub value: Vec<u8>,
    /// Never indexed (RFC 7541 §7.1.3): the encoder sends it as a literal that neither end may
    /// add to a table, and that an intermediary must forward the same way, so that its value
    /// cannot be guessed through the compression of later fields. The decoder sets it when the
    /// peer sent the field so.
    pub sensitive: bool,
}

impl Field {
    /// An ordinary field.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field that is never indexed: for `authorization`, `cookie` and other secrets, above
    /// all short ones that could be guessed.
    pub fn sensitive(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Field {
        Field {
            sensitive: true,
            ..Field::new(name, value)
        }
    }

    /// The size the header list limit counts for this field (RFC 9113 §6.5.2, RFC 7541 §4.1):
    /// its name and value in octets, plus 32.
    pub fn size(&self) -> usize {
        entry_size(&self.name, &self.value)
    }
}

/// A header field borrowed from wherever its octets already are, for
/// [`Encoder::encode_refs`]: what [`Field`] holds, without owning it.
///
/// ```
/// use nethttp::proto::hpack::{Encoder, Field, FieldRef, DEFAULT_TABLE_SIZE};
///
/// let owned = [Field::new(":path", "/a"), Field::sensitive("cookie", "k=v")];
/// let borrowed = [
///     FieldRef::new(b":path", b"/a"),
///     FieldRef { sensitive: true, ..FieldRef::new(b"cookie", b"k=v") },
/// ];
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// Encoder::new(DEFAULT_TABLE_SIZE).encode(&owned, &mut a);
/// Encoder::new(DEFAULT_TABLE_SIZE).encode_refs(borrowed, &mut b);
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldRef<'a> {
    /// The field name.
    pub name: &'a [u8],
    /// The field value.
    pub value: &'a [u8],
    /// Never indexed; see [`Field::sensitive`](Field#structfield.sensitive).
    pub sensitive: bool,
}

impl<'a> FieldRef<'a> {
    /// An ordinary field.
    pub fn new(name: &'a [u8], value: &'a [u8]) -> FieldRef<'a> {
        FieldRef {
            name,
            value,
            sensitive: false,
        }
    }

    /// The owned [`Field`] with the same name, value and sensitivity.
    pub fn to_field(&self) -> Field {
        Field {
            name: self.name.to_vec(),
            value: self.value.to_vec(),
            sensitive: self.sensitive,
        }
    }
}

impl<'a> From<&'a Field> for FieldRef<'a> {
    fn from(f: &'a Field) -> FieldRef<'a> {
        FieldRef {
            name: &f.name,
            value: &f.value,
            sensitive: f.sensitive,
        }
    }
}

/// The size of a header list as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it: the sum of
/// [`Field::size`]. A sender checks it against the peer's setting before encoding.
pub fn header_list_size<'a>(fields: impl IntoIterator<Item = &'a Field>) -> usize {
    fields
        .into_iter()
        .fold(0usize, |sum, f| sum.saturating_add(f.size()))
}

#[cfg(test)]
mod tests;
