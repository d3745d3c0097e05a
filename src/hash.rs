//! The stable hash of ids and texts (FNV-1a, 64 bit): incident ids, author slots, id
//! de-duplication, simulated sources. Stable across versions and platforms, because its
//! values are stored (snapshots, incident ids).
//!
//! Pure: imports nothing of the crate.

/// Stable 64-bit FNV-1a hash, for incident ids and author slots.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
