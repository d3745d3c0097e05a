//! The ingest log: the service's write-ahead log. Every accepted mention (and every clock
//! tick and manual resolution, so that replaying it is deterministic) is appended here and
//! made durable before the client gets `202`. The engine's snapshot records the log position
//! it covers; on start the log is replayed from there, so an accepted mention is never lost.
//!
//! Segments are files `ingest-<n>.log` of records ending in `\n`: a mention as compact JSON,
//! `#t <ms>` (clock tick) or `#r <incident id>` (resolved by a person). A segment starts with
//! the de-duplication memory of that moment in `dedup-<n>.bin`, so that recovery knows the ids
//! seen before it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use crate::ingest::dedup::Dedup;
pub use crate::store::LogPos;

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("ingest-{n:010}.log"))
}

fn dedup_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("dedup-{n:010}.bin"))
}

/// Segment numbers present in `dir`, ascending.
///
/// # Errors
/// When the directory cannot be read.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("ingest-")?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// The appending side of the log.
#[derive(Debug)]
pub struct IngestLog {
    dir: PathBuf,
    segment: u64,
    file: File,
    len: u64,
    segment_size: u64,
    fsync: bool,
    dirty: bool,
}

impl IngestLog {
    /// Starts a new segment numbered `segment` in `dir`, writing `dedup` as its starting memory.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(dir: &Path, segment: u64, segment_size: u64, fsync: bool, dedup: &Dedup) -> io::Result<Self> {
        write_dedup(&dedup_path(dir, segment), dedup)?;
        let mut file = OpenOptions::new().create(true).append(true).open(segment_path(dir, segment))?;
        let mut len = file.metadata()?.len();
        if len == 0 {
            // groups in this segment end with a commit record: recovery drops a torn group
            file.write_all(GROUPED)?;
            file.sync_data()?;
            len = GROUPED.len() as u64;
        }
        if fsync {
            File::open(dir)?.sync_all()?; // the new directory entries
        }
        Ok(IngestLog { dir: dir.to_path_buf(), segment, file, len, segment_size, fsync, dirty: false })
    }

    /// Makes everything appended so far durable (one fsync for a whole group of requests).
    ///
    /// # Errors
    /// I/O errors.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty && self.fsync {
            self.file.sync_data()?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Appends `records` and makes them durable, all or nothing: on any failure the segment
    /// is cut back to where it was, so a refused request leaves no record behind.
    ///
    /// # Errors
    /// I/O errors (the segment is cut back; when even that fails, the error says so and
    /// [`IngestLog::repair`] must succeed before the next append).
    pub fn append_durable(&mut self, records: &[u8]) -> io::Result<LogPos> {
        let before = self.len;
        let mut group = Vec::with_capacity(records.len() + COMMIT.len());
        group.extend_from_slice(records);
        group.extend_from_slice(COMMIT);
        let r = self.file.write_all(&group).and_then(|()| {
            self.len += group.len() as u64;
            self.dirty = true;
            self.sync()
        });
        match r {
            Ok(()) => Ok(LogPos { segment: self.segment, offset: self.len }),
            Err(e) => {
                self.len = before;
                self.dirty = false;
                match self.file.set_len(before) {
                    Ok(()) => Err(e),
                    Err(t) => Err(io::Error::new(e.kind(), format!("{e}; cutting the segment back also failed: {t}"))),
                }
            }
        }
    }

    /// After a failed append: cuts the segment back to its last durable record and checks
    /// that the disk takes writes again (a probe file of `probe` bytes is written, synced
    /// and removed). Ok means appends may resume.
    ///
    /// # Errors
    /// The disk still refuses writes.
    pub fn repair(&mut self, probe: usize) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.sync_all()?;
        let path = self.dir.join("space-probe.tmp");
        let r = File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; probe])?;
            f.sync_all()
        });
        let _ = fs::remove_file(&path);
        r
    }

    /// Starts the next segment when this one is full (or `force` and it is not empty).
    ///
    /// # Errors
    /// I/O errors.
    pub fn maybe_rotate(&mut self, force: bool, dedup: &Dedup) -> io::Result<bool> {
        if self.len == 0 || (!force && self.len < self.segment_size) {
            return Ok(false);
        }
        self.sync()?;
        *self = IngestLog::create(&self.dir, self.segment + 1, self.segment_size, self.fsync, dedup)?;
        Ok(true)
    }

    /// The current end of the log.
    pub fn end(&self) -> LogPos {
        LogPos { segment: self.segment, offset: self.len }
    }
}

/// Deletes the segments (and their dedup files) wholly before `pos`.
///
/// # Errors
/// I/O errors.
pub fn remove_before(dir: &Path, pos: LogPos) -> io::Result<usize> {
    let mut n = 0;
    for s in segments(dir)? {
        if s < pos.segment {
            fs::remove_file(segment_path(dir, s))?;
            let _ = fs::remove_file(dedup_path(dir, s)); // the first segment may have none
            n += 1;
        }
    }
    Ok(n)
}

/// The first record of a segment whose groups end with [`COMMIT`].
pub const GROUPED: &[u8] = b"#v 2\n";
/// The record that ends each group written by [`IngestLog::append_durable`]: a group is in
/// the log only with it, so a crash in the middle of writing one (the process killed, its
/// bytes partly in the page cache) leaves nothing of it after recovery.
pub const COMMIT: &[u8] = b"#c 0\n";

/// Reads every record from the start of segment `from.segment` on, calling `f(record, end,
/// replay)` where `replay` is true for records after `from` (those the engine has not seen).
/// What a crash left of an unfinished group (never acknowledged: the client was not told
/// `202`) is cut off: a torn final record, and, in a segment of groups, every record after
/// its last commit.
///
/// # Errors
/// I/O errors, or an error from `f`.
pub fn read_from(
    dir: &Path,
    from: LogPos,
    mut f: impl FnMut(&[u8], LogPos, bool) -> anyhow::Result<()>,
) -> anyhow::Result<LogPos> {
    let mut end = from;
    let segs: Vec<u64> = segments(dir)?.into_iter().filter(|&s| s >= from.segment).collect();
    for (k, &s) in segs.iter().enumerate() {
        let path = segment_path(dir, s);
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        let mut reader = BufReader::with_capacity(1 << 20, &mut file);
        let mut buf = Vec::new();
        let mut offset = 0u64;
        let last = k + 1 == segs.len();
        // in a segment of groups, records wait for their group's commit
        let mut grouped = false;
        let mut group: Vec<(Vec<u8>, LogPos)> = Vec::new();
        let mut committed = 0u64;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') {
                anyhow::ensure!(last, "{}: torn record in the middle of the log at byte {offset}", path.display());
                break;
            }
            offset += n as u64;
            let pos = LogPos { segment: s, offset };
            if offset == n as u64 && buf == GROUPED {
                grouped = true;
                committed = offset;
                continue;
            }
            if !grouped {
                f(&buf, pos, pos > from)?;
                end = pos;
                committed = offset;
            } else if buf == COMMIT {
                for (rec, p) in group.drain(..) {
                    f(&rec, p, p > from)?;
                }
                end = pos;
                committed = offset;
            } else {
                group.push((buf.clone(), pos));
            }
        }
        if committed < offset || buf.last().is_some_and(|&b| b != b'\n') {
            anyhow::ensure!(last, "{}: unfinished group in the middle of the log at byte {committed}", path.display());
            drop(reader);
            file.set_len(committed)?; // never acknowledged: the client was not told 202
            file.seek(SeekFrom::Start(committed))?;
        }
        if end.segment < s {
            end = LogPos { segment: s, offset: 0 };
        }
    }
    Ok(end)
}

fn write_dedup(path: &Path, d: &Dedup) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut w = io::BufWriter::new(File::create(&tmp)?);
    for (id, at) in d.entries() {
        w.write_all(&id.to_le_bytes())?;
        w.write_all(&at.to_le_bytes())?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(tmp, path)
}

/// Loads the dedup memory a segment started with (empty when there is none).
///
/// # Errors
/// I/O errors other than a missing file.
pub fn read_dedup(dir: &Path, segment: u64, max: usize, window_ms: i64) -> io::Result<Dedup> {
    let mut d = Dedup::new(max, window_ms);
    let mut bytes = Vec::new();
    match File::open(dedup_path(dir, segment)) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(d),
        Err(e) => return Err(e),
    };
    for c in bytes.chunks_exact(16) {
        let id = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
        let at = i64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
        d.insert(id, at);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_round_trip_rotation_and_unfinished_groups() {
        let dir = tempfile::tempdir().unwrap();
        let mut dd = Dedup::new(10, 1000);
        dd.insert(42, 0);
        let mut log = IngestLog::create(dir.path(), 1, 10, true, &dd).unwrap();
        let p1 = log.append_durable(b"{\"a\":1}\n#t 5\n").unwrap();
        assert_eq!(p1, LogPos { segment: 1, offset: 23 }, "header, two records, commit");
        assert!(log.maybe_rotate(false, &dd).unwrap(), "over 10 bytes");
        let p2 = log.append_durable(b"{\"b\":2}\n").unwrap();
        assert_eq!(p2, LogPos { segment: 2, offset: 18 });
        // a crash in the middle of the next group: one whole record, one torn, no commit
        std::fs::OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), 2))
            .unwrap()
            .write_all(b"{\"c\":3}\n{\"d\"")
            .unwrap();
        let mut seen = Vec::new();
        let end = read_from(dir.path(), LogPos { segment: 1, offset: 13 }, |r, pos, replay| {
            seen.push((String::from_utf8(r.to_vec()).unwrap(), pos, replay));
            Ok(())
        })
        .unwrap();
        assert_eq!(end, p2);
        let recs: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(recs, ["{\"a\":1}\n", "#t 5\n", "{\"b\":2}\n"], "framing hidden, the unfinished group gone");
        assert!(!seen[0].2 && seen[1].2 && seen[2].2, "{seen:?}");
        assert_eq!(seen[1].1, LogPos { segment: 1, offset: 18 });
        assert_eq!(std::fs::metadata(segment_path(dir.path(), 2)).unwrap().len(), 18, "unfinished group cut");
        assert_eq!(read_dedup(dir.path(), 2, 10, 1000).unwrap().len(), 1);
        assert_eq!(remove_before(dir.path(), p2).unwrap(), 1);
        assert_eq!(segments(dir.path()).unwrap(), vec![2]);
    }
}
