//! FNV-1a, for the crate's small internal maps: std's SipHash is keyed against chosen
//! collisions and costs several times as much per short key (about 480 instructions for a
//! connection key, against about a fifth of that here).
//!
//! FNV has no key, so whoever chooses the keys can make them collide; what bounds the harm
//! is how long each map can get. The client's pool holds an entry only while a connection or
//! a waiter for that key exists (a program that dials hosts a peer names, by redirects, say,
//! still holds no more entries than it has connections and callers), so a colliding lookup
//! costs at most one probe per such entry. `ServeMux`'s routing tree holds the patterns the
//! program registered, and a lookup never adds one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed with [`Fnv`].
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// FNV-1a over the bytes written, then a final mix, so that the low bits (a table's bucket)
/// and the high bits (hashbrown's tag) both depend on every byte.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Keys one byte (or one port) apart get different hashes, and different buckets too.
    #[test]
    fn spreads_near_keys() {
        let b = BuildHasherDefault::<Fnv>::default();
        let mut seen = std::collections::HashSet::new();
        for port in 8000u16..8064 {
            assert!(seen.insert(b.hash_one(("http", "127.0.0.1", port))));
        }
        let low: std::collections::HashSet<u64> = seen.iter().map(|h| h & 63).collect();
        assert!(low.len() > 32, "{} buckets of 64", low.len());
        let names: std::collections::HashSet<u64> = ["/a", "/b", "/c", "/ab", "/ba"]
            .iter()
            .map(|s| b.hash_one(s))
            .collect();
        assert_eq!(names.len(), 5);
    }
}
