//! The HPACK decoder: a whole header block in, header fields out (RFC 7541 §3, §6).

use super::table::{DynamicTable, STATIC};
use super::{huffman, integer, Field};
use crate::error::{Error, Result, TooLarge};
use crate::proto::h2::ErrorCode;

/// Decodes the header blocks one connection receives, keeping the dynamic table between them.
///
/// Rules: an index must name an entry (0 and indices past the tables are errors); a dynamic
/// table size update may only come before the first field of a block and may not exceed the
/// limit this end advertised, and after this end lowers the limit below the table's size the
/// next block must begin with one (§4.2); integers above 2^32 - 1 and strings running past the
/// block are errors; strings longer than [`set_max_string_len`](Self::set_max_string_len) are
/// refused before they are copied; Huffman strings follow §5.2 (no EOS, padding of at most 7
/// one bits). All of these are `COMPRESSION_ERROR` connection errors, after which the decoder
/// must not be used again.
///
/// The header list limit is different: the block is still decoded to its end, so the table
/// stays in step with the peer's encoder, but the fields are dropped and
/// [`TooLarge::Head`] returned. The decoder can go on with the next block.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// The most the peer may make the table: this end's `SETTINGS_HEADER_TABLE_SIZE`.
    limit: usize,
    /// The limit went below the table's maximum size: the next block must start with a size
    /// update.
    update_required: bool,
    max_header_list_size: usize,
    max_string_len: usize,
}

impl Decoder {
    /// The default header list limit: 1 MiB, the size of the HTTP/1 head limit
    /// ([`Limits::DEFAULT_MAX_HEAD_BYTES`](crate::proto::Limits::DEFAULT_MAX_HEAD_BYTES)).
    pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 1 << 20;
    /// The default limit on one name or value: 1 MiB.
    pub const DEFAULT_MAX_STRING_LEN: usize = 1 << 20;

    /// A decoder whose table starts at `table_size` octets, which is also the limit for size
    /// updates: [`DEFAULT_TABLE_SIZE`](super::DEFAULT_TABLE_SIZE) in HTTP/2.
    pub fn new(table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(table_size),
            limit: table_size,
            update_required: false,
            max_header_list_size: Decoder::DEFAULT_MAX_HEADER_LIST_SIZE,
            max_string_len: Decoder::DEFAULT_MAX_STRING_LEN,
        }
    }

    /// Sets the limit for the peer's table: this end's `SETTINGS_HEADER_TABLE_SIZE`, once the
    /// peer has acknowledged it. A limit below the table's present maximum requires the next
    /// block to begin with a size update within it (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, limit: usize) {
        self.limit = limit;
        if limit < self.table.max_size() {
            self.update_required = true;
        }
    }

    /// Sets the most a header list may add up to, counting each field's name and value plus
    /// 32 octets (RFC 9113 §6.5.2): this end's `SETTINGS_MAX_HEADER_LIST_SIZE`. Default is
    /// [`DEFAULT_MAX_HEADER_LIST_SIZE`](Self::DEFAULT_MAX_HEADER_LIST_SIZE); zero refuses any
    /// field; `usize::MAX` means no limit.
    pub fn set_max_header_list_size(&mut self, n: usize) {
        self.max_header_list_size = n;
    }

    /// Sets the longest name or value, in octets after Huffman decoding. Default is
    /// [`DEFAULT_MAX_STRING_LEN`](Self::DEFAULT_MAX_STRING_LEN); zero allows only empty names
    /// and values; `usize::MAX` means no limit.
    pub fn set_max_string_len(&mut self, n: usize) {
        self.max_string_len = n;
    }

    /// The dynamic table's present size (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one whole header block.
    ///
    /// # Errors
    ///
    /// A `COMPRESSION_ERROR` connection error ([`ErrorKind::Http2`](crate::ErrorKind::Http2))
    /// for a malformed block (see the rules above); then the connection must end.
    /// [`TooLarge::Head`] if the fields add up to more than the header list limit; the block
    /// was decoded to its end and the decoder remains usable.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        let mut list_size = 0usize;
        let mut over_limit = false;
        let mut pos = 0;
        let mut seen_field = false;
        while pos < block.len() {
            let rest = &block[pos..];
            let b = rest[0];
            if b & 0xe0 == 0x20 {
                // §6.3 Dynamic table size update: 001xxxxx.
                if seen_field {
                    return Err(compression("dynamic table size update after a field"));
                }
                let (size, n) = integer::decode(rest, 5)?;
                pos += n;
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > self.limit {
                    return Err(compression("dynamic table size update above the limit"));
                }
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            }
            if self.update_required {
                return Err(compression("missing dynamic table size update"));
            }
            seen_field = true;
            let field = if b & 0x80 != 0 {
                // §6.1 Indexed header field: 1xxxxxxx.
                let (index, n) = integer::decode(rest, 7)?;
                pos += n;
                let (name, value) = self.entry(index)?;
                Field {
                    name: name.to_vec(),
                    value: value.to_vec(),
                    sensitive: false,
                }
            } else if b & 0x40 != 0 {
                // §6.2.1 Literal with incremental indexing: 01xxxxxx.
                let (name, value) = self.literal(rest, 6, &mut pos)?;
                self.table.insert(&name, &value);
                Field {
                    name,
                    value,
                    sensitive: false,
                }
            } else {
                // §6.2.2 Literal without indexing (0000xxxx) and §6.2.3 never indexed
                // (0001xxxx).
                let (name, value) = self.literal(rest, 4, &mut pos)?;
                Field {
                    name,
                    value,
                    sensitive: b & 0x10 != 0,
                }
            };
            // Past the limit, go on decoding (the table must stay in step) but keep nothing.
            list_size = list_size.saturating_add(field.size());
            if list_size > self.max_header_list_size {
                over_limit = true;
                fields = Vec::new();
            }
            if !over_limit {
                fields.push(field);
            }
        }
        if self.update_required {
            return Err(compression("missing dynamic table size update"));
        }
        if over_limit {
            return Err(Error::too_large(TooLarge::Head));
        }
        Ok(fields)
    }

    /// The entry at an HPACK index: 1-61 static, 62 on the dynamic table, newest first.
    fn entry(&self, index: u64) -> Result<(&[u8], &[u8])> {
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        if i == 0 {
            return Err(compression("index 0 in header block"));
        }
        if let Some((n, v)) = STATIC.get(i - 1) {
            return Ok((n.as_bytes(), v.as_bytes()));
        }
        self.table
            .get(i - 1 - STATIC.len())
            .ok_or_else(|| compression("index past the tables in header block"))
    }

    /// Reads a literal representation whose name index has a `prefix`-bit prefix, from the
    /// start of `src`; advances `pos` past it.
    fn literal(&self, src: &[u8], prefix: u8, pos: &mut usize) -> Result<(Vec<u8>, Vec<u8>)> {
        let (index, mut used) = integer::decode(src, prefix)?;
        let name = if index == 0 {
            let (name, n) = self.string(&src[used..])?;
            used += n;
            name
        } else {
            self.entry(index)?.0.to_vec()
        };
        let (value, n) = self.string(&src[used..])?;
        *pos += used + n;
        Ok((name, value))
    }

    /// Reads a string literal (§5.2) from the start of `src`: the string and the octets used.
    fn string(&self, src: &[u8]) -> Result<(Vec<u8>, usize)> {
        let (len, n) = integer::decode(src, 7)?;
        let huffman = src[0] & 0x80 != 0;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let Some(data) = src[n..].get(..len) else {
            return Err(compression("header block ends inside a string"));
        };
        let mut out = Vec::new();
        if huffman {
            huffman::decode(data, &mut out, self.max_string_len)?;
        } else {
            if len > self.max_string_len {
                return Err(compression("string longer than its limit in header block"));
            }
            out.extend_from_slice(data);
        }
        Ok((out, n + len))
    }
}

fn compression(what: &'static str) -> Error {
    Error::h2_connection(ErrorCode::Compression, what)
}

#[cfg(test)]
impl Decoder {
    /// The dynamic table's entries, newest first, for tests.
    pub(super) fn table_entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.table
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect()
    }
}
