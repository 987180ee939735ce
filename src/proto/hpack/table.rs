//! HPACK's tables (RFC 7541 §2.3): the static table of Appendix A and the dynamic table, with
//! its size accounting and eviction (§4).

use std::collections::VecDeque;

/// The static table (Appendix A): index 1 is the first entry.
#[rustfmt::skip]
pub(super) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The size §4.1 counts for an entry: its name and value in octets, plus 32.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// A dynamic table: entries newest first, their summed size, and the maximum size the table
/// may have now (set by a size update from the encoder, within the protocol's limit).
#[derive(Debug, Clone)]
pub(super) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

/// One entry of a dynamic table.
#[derive(Debug, Clone)]
struct Entry {
    name: Box<[u8]>,
    value: Box<[u8]>,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The summed size of the entries (§4.1).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The maximum size now in force.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at `i`, 0 being the newest (HPACK index 62).
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|e| (&e.name[..], &e.value[..]))
    }

    /// Changes the maximum size, evicting the oldest entries until the table fits (§4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry at the front, evicting old ones to make room (§4.4). An entry larger than
    /// the maximum size empties the table and is not added.
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.entries.push_front(Entry {
            name: name.into(),
            value: value.into(),
        });
        self.size += size;
    }

    fn evict_to(&mut self, room: usize) {
        while self.size > room {
            let Some(e) = self.entries.pop_back() else {
                break;
            };
            self.size -= entry_size(&e.name, &e.value);
        }
    }

    /// The entries, newest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|e| (&e.name[..], &e.value[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table_spot_checks() {
        assert_eq!(STATIC[0], (":authority", ""));
        assert_eq!(STATIC[1], (":method", "GET"));
        assert_eq!(STATIC[15], ("accept-encoding", "gzip, deflate"));
        assert_eq!(STATIC[23], ("cache-control", ""));
        assert_eq!(STATIC[32], ("date", ""));
        assert_eq!(STATIC[54], ("set-cookie", ""));
        assert_eq!(STATIC[60], ("www-authenticate", ""));
        for (name, _) in STATIC {
            assert_eq!(name, name.to_ascii_lowercase());
        }
    }

    #[test]
    fn sizes_and_eviction() {
        let mut t = DynamicTable::new(100);
        t.insert(b"a", b"1"); // 34
        t.insert(b"bb", b"22"); // 36
        assert_eq!((t.len(), t.size()), (2, 70));
        assert_eq!(t.get(0), Some((&b"bb"[..], &b"22"[..])));
        // 70 + 35 > 100: the oldest goes.
        t.insert(b"ccc", b""); // 35
        assert_eq!((t.len(), t.size()), (2, 71));
        assert_eq!(t.get(1), Some((&b"bb"[..], &b"22"[..])));
        // Shrinking evicts from the old end.
        t.set_max_size(40);
        assert_eq!((t.len(), t.size()), (1, 35));
        assert_eq!(t.get(0), Some((&b"ccc"[..], &b""[..])));
        // An entry that fits exactly empties the rest.
        t.insert(b"dddddddd", b""); // 40
        assert_eq!((t.len(), t.size()), (1, 40));
        // One larger than the table empties it and is not added (§4.4).
        t.insert(b"eeeeeeeee", b"");
        assert_eq!((t.len(), t.size()), (0, 0));
        t.set_max_size(0);
        t.insert(b"", b"");
        assert_eq!(t.len(), 0);
    }
}
