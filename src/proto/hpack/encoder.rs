//! The HPACK encoder: header fields in, a header block out (RFC 7541 §3, §6).

use super::table::{entry_size, DynamicTable, STATIC};
use super::{huffman, integer, Field, FieldRef};

/// When the encoder Huffman-codes a string (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HuffmanPolicy {
    /// When the coded string is shorter than the raw one (the default, as Go's encoder).
    #[default]
    WhenShorter,
    /// Always, even when no shorter (RFC 7541 Appendix C.4 and C.6 are encoded so: "307"
    /// takes 3 octets either way there).
    Always,
    /// Never: every string goes raw (RFC 7541 Appendix C.3 and C.5 are encoded so).
    Never,
}

/// Encodes the header blocks one connection sends, keeping the dynamic table between them.
///
/// For each field, in order: a field marked [`sensitive`](Field::sensitive) is a literal never
/// indexed (§6.2.3), its name indexed if a table has it; a field found whole in a table is
/// indexed (§6.1, the static table first); any other is a literal with incremental indexing
/// (§6.2.1), its name indexed if a table has it (the static table first), unless it is larger
/// than the whole table, when it is a literal without indexing (§6.2.2) rather than a write
/// that would only empty the table.
///
/// The table's size is the smaller of what the peer allows
/// ([`set_max_table_size`](Self::set_max_table_size), its `SETTINGS_HEADER_TABLE_SIZE`) and
/// the encoder's own cap ([`set_table_size_cap`](Self::set_table_size_cap), 4096 by default),
/// so a peer that allows 4 GiB does not get a table of 4 GiB. Each change is signalled at the
/// start of the next block, as §4.2 asks: the smallest size since the last block if the size
/// went below both the present one and the one last signalled, then the present size.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// The peer's `SETTINGS_HEADER_TABLE_SIZE`, as last set.
    peer_limit: usize,
    cap: usize,
    /// The table size the peer's decoder knows: the last one signalled, or the initial one.
    signalled: usize,
    /// The smallest table size since the last block, if the size changed since then.
    pending_min: Option<usize>,
    huffman: HuffmanPolicy,
}

impl Encoder {
    /// The default cap on the table size: 4096 octets, the size HTTP/2 starts with (Go's
    /// encoder holds to the same).
    pub const DEFAULT_TABLE_SIZE_CAP: usize = 4096;

    /// An encoder whose table starts at `table_size` octets, the size both ends assume at the
    /// start: [`DEFAULT_TABLE_SIZE`](super::DEFAULT_TABLE_SIZE) in HTTP/2. A size above the
    /// default cap is lowered to it, and the first block says so.
    pub fn new(table_size: usize) -> Encoder {
        let mut enc = Encoder {
            table: DynamicTable::new(table_size),
            peer_limit: table_size,
            cap: Encoder::DEFAULT_TABLE_SIZE_CAP,
            signalled: table_size,
            pending_min: None,
            huffman: HuffmanPolicy::default(),
        };
        enc.resize();
        enc
    }

    /// Applies the peer's `SETTINGS_HEADER_TABLE_SIZE`: the table is the smaller of it and the
    /// cap, from now on; the next block begins with the size update.
    pub fn set_max_table_size(&mut self, peer_limit: usize) {
        self.peer_limit = peer_limit;
        self.resize();
    }

    /// Sets the most this encoder will make its table, whatever the peer allows. Default is
    /// [`DEFAULT_TABLE_SIZE_CAP`](Self::DEFAULT_TABLE_SIZE_CAP); zero means no dynamic table.
    pub fn set_table_size_cap(&mut self, cap: usize) {
        self.cap = cap;
        self.resize();
    }

    /// Sets when strings are Huffman-coded. Default is [`HuffmanPolicy::WhenShorter`].
    pub fn set_huffman(&mut self, policy: HuffmanPolicy) {
        self.huffman = policy;
    }

    /// The dynamic table's present size (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    fn resize(&mut self) {
        let size = self.peer_limit.min(self.cap);
        if size == self.table.max_size() {
            return;
        }
        let min = self.pending_min.unwrap_or(self.table.max_size()).min(size);
        self.pending_min = Some(min);
        self.table.set_max_size(size);
    }

    /// Appends one header block holding `fields`, in order, to `dst`.
    pub fn encode<'a>(&mut self, fields: impl IntoIterator<Item = &'a Field>, dst: &mut Vec<u8>) {
        self.encode_refs(fields.into_iter().map(FieldRef::from), dst);
    }

    /// [`encode`](Self::encode) for borrowed fields: the same block, octet for octet, from
    /// names and values the caller already holds (a request's header map, say), so that
    /// nothing is copied into owned [`Field`]s only to be encoded.
    pub fn encode_refs<'a>(
        &mut self,
        fields: impl IntoIterator<Item = FieldRef<'a>>,
        dst: &mut Vec<u8>,
    ) {
        if let Some(min) = self.pending_min.take() {
            // A size that went below what the peer knows evicted entries: the peer must evict
            // them too before the table grows again, so the smallest size goes first.
            let size = self.table.max_size();
            let shrunk = min < self.signalled;
            if shrunk && min < size {
                integer::encode(min as u64, 5, 0x20, dst);
            }
            if shrunk || size != self.signalled {
                integer::encode(size as u64, 5, 0x20, dst);
            }
            self.signalled = size;
        }
        for field in fields {
            self.encode_field(field, dst);
        }
    }

    fn encode_field(&mut self, field: FieldRef<'_>, dst: &mut Vec<u8>) {
        let (name, value) = (field.name, field.value);
        let found = self.find(name, value);
        if field.sensitive {
            self.literal(0x10, 4, found.name_index, name, value, dst);
        } else if let Some(index) = found.index {
            integer::encode(index as u64, 7, 0x80, dst);
        } else if entry_size(name, value) <= self.table.max_size() {
            self.literal(0x40, 6, found.name_index, name, value, dst);
            self.table.insert(name, value);
        } else {
            self.literal(0x00, 4, found.name_index, name, value, dst);
        }
    }

    /// Finds a field in the tables: the index of the whole field, and of its name alone.
    fn find(&self, name: &[u8], value: &[u8]) -> Found {
        let mut found = Found {
            index: None,
            name_index: None,
        };
        for (i, (n, v)) in STATIC.iter().enumerate() {
            if n.as_bytes() == name {
                found.name_index.get_or_insert(i + 1);
                if v.as_bytes() == value {
                    found.index = Some(i + 1);
                    return found;
                }
            }
        }
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n == name {
                found.name_index.get_or_insert(STATIC.len() + 1 + i);
                if v == value {
                    found.index = Some(STATIC.len() + 1 + i);
                    return found;
                }
            }
        }
        found
    }

    /// Appends a literal representation: `pattern` in the bits above a `prefix`-bit name index.
    fn literal(
        &self,
        pattern: u8,
        prefix: u8,
        name_index: Option<usize>,
        name: &[u8],
        value: &[u8],
        dst: &mut Vec<u8>,
    ) {
        match name_index {
            Some(i) => integer::encode(i as u64, prefix, pattern, dst),
            None => {
                dst.push(pattern);
                self.string(name, dst);
            }
        }
        self.string(value, dst);
    }

    /// Appends a string literal (§5.2).
    fn string(&self, s: &[u8], dst: &mut Vec<u8>) {
        let coded = huffman::encoded_len(s);
        let use_huffman = match self.huffman {
            HuffmanPolicy::WhenShorter => coded < s.len(),
            HuffmanPolicy::Always => true,
            HuffmanPolicy::Never => false,
        };
        if use_huffman {
            integer::encode(coded as u64, 7, 0x80, dst);
            huffman::encode(s, dst);
        } else {
            integer::encode(s.len() as u64, 7, 0x00, dst);
            dst.extend_from_slice(s);
        }
    }
}

/// Where a field is in the tables, by HPACK index.
struct Found {
    /// The whole field.
    index: Option<usize>,
    /// Its name, with some value.
    name_index: Option<usize>,
}
