//! The installation id: 16 random hex digits made when a store is created and kept in it,
//! so that what crisiswatch sends out (webhook `Idempotency-Key`, email `Message-ID`) is
//! unique across installations and data-directory resets, where row numbers start again.

use super::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// This store's installation id, made (and stored) on the first call.
///
/// # Errors
/// SQLite errors.
pub fn id(c: &Connection) -> Result<String> {
    let found: Option<String> =
        c.query_row("SELECT value FROM meta WHERE key = 'installation'", [], |r| r.get(0)).optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let fresh = random_hex();
    // two connections racing: the first one's id stays
    c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('installation', ?1)", params![fresh])?;
    c.query_row("SELECT value FROM meta WHERE key = 'installation'", [], |r| r.get(0))
}

/// 64 random bits as hex: the kernel's UUID source, mixed with the time and the process id
/// (SHA-256), so that even without `/proc` two installations do not meet.
fn random_hex() -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(std::fs::read("/proc/sys/kernel/random/uuid").unwrap_or_default());
    h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes `id` this store's installation id (a cluster's nodes share the cluster's, so that
/// idempotency keys do not change when another node takes over the notifications).
///
/// # Errors
/// SQLite errors.
pub fn adopt(c: &Connection, id: &str) -> Result<()> {
    c.execute("INSERT INTO meta (key, value) VALUES ('installation', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_id_per_store_and_different_stores_differ() {
        let dir = std::env::temp_dir().join(format!("cw-install-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = super::super::open(&dir.join("a.db"), false).unwrap();
        let b = super::super::open(&dir.join("b.db"), false).unwrap();
        let first = super::id(&a).unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(super::id(&a).unwrap(), first, "kept");
        assert_ne!(super::id(&b).unwrap(), first, "another store, another id");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cluster_installation_id_replaces_the_stores_own() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::store::open(&dir.path().join("s.db"), false).unwrap();
        let own = super::id(&c).unwrap();
        super::adopt(&c, "00aa11bb22cc33dd").unwrap();
        assert_eq!(super::id(&c).unwrap(), "00aa11bb22cc33dd");
        assert_ne!(own, "00aa11bb22cc33dd");
    }
}
