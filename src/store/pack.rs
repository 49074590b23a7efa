//! Pack files: the immutable, self-describing blob store.
//!
//! # Format (all integers little-endian)
//!
//! ```text
//! pack    := "TTVPACK1" blob* trailer footer
//! blob    := header(48) stored-bytes
//! header  := "TTB1" kind:u8 codec:u8 0:u16 raw_len:u32 stored_len:u32 hash:[32]
//! trailer := (offset:u64 header(48))*          -- one per blob, offset of its stored bytes
//! footer  := "TTVPEND1" count:u32 trailer_len:u32 blake3(trailer):[32]   -- 48 bytes
//! ```
//!
//! `hash` is the BLAKE3 of the blob's raw (decoded) bytes and is its id everywhere.
//! `kind` says what the raw bytes are: 0 file data, 1 a file map (a multi-chunk
//! file's chunk list), 2 a snapshot manifest (see `manifest.rs`) or 3 a tombstone
//! (the ids of forgotten snapshots, see `tombstone.rs`). `codec` is 0 raw, 1 zstd.
//!
//! Every blob carries its own header, so a pack whose tail was lost can still be
//! scanned blob by blob; the trailer repeats the headers so that reading a pack's
//! table of contents costs one small read at the end. (Its entries start with the
//! offset, never with the blob magic, so a scan stops where the trailer begins: no
//! offset in a pack of tens of MiB spells "TTB1".) Together they let
//! `rebuild-index` recover the whole index from packs alone.
//!
//! A pack is written under a temporary name, fsynced, renamed to
//! `packs/<first two hex digits>/<id>.pack` and its directory fsynced; only then is
//! it committed to the index. The id is random: packs are never rewritten, so the
//! name need not be derived from the content.
//!
//! Prune (`pruner.rs`) never edits a pack either: it copies the live blobs of a
//! partly used pack verbatim (same stored bytes, same codec) into new packs,
//! commits the index, and only then deletes the old file.
//!
//! # Version 2: the sealed pack of an encrypted vault
//!
//! An encrypted vault (see `crypto/`) writes only version-2 packs; an unencrypted one
//! only version 1, which stays readable as it is. `seal(AD, x)` is
//! `nonce:[24] XChaCha20-Poly1305(x) tag:[16]` under the vault's blob key.
//!
//! ```text
//! pack    := "TTVPACK2" blob* sealed-trailer footer
//! blob    := header(48) sealed
//! header  := "TTB2" 0:[8] sealed_len:u32 id:[32]        -- the v1 layout, kind/codec/raw_len zeroed
//! sealed  := seal(AD = id, kind:u8 codec:u8 0:u16 raw_len:u32 stored-bytes)
//! sealed-trailer := seal(AD = "TTVPACK2 trailer", (offset:u64 v1-header(48))*)
//! footer  := "TTVPEND2" 0:u32 sealed_trailer_len:u32 0:[32]
//! ```
//!
//! `id` is the keyed BLAKE3 of the raw bytes, meaningless without the key; the
//! in-trailer headers carry the true kind, codec and raw length, with `stored_len`
//! the sealed length. So a pack shows no file names, no kinds, no raw sizes and no
//! blob count; what it does show is the sealed size of each blob (a chunk's size,
//! give or take compression, as in restic and borg). The id is the blob's associated
//! data, so a sealed blob cannot be passed off as another; a scan (lost trailer)
//! opens each blob to learn its kind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;

use super::chunker::{Hash, MAX_CHUNK};
use super::codec::Codec;
use super::crypto::{self, seal, Keys};

pub const PACK_MAGIC: &[u8; 8] = b"TTVPACK1";
const BLOB_MAGIC: &[u8; 4] = b"TTB1";
const FOOTER_MAGIC: &[u8; 8] = b"TTVPEND1";
pub const SEALED_PACK_MAGIC: &[u8; 8] = b"TTVPACK2";
const SEALED_BLOB_MAGIC: &[u8; 4] = b"TTB2";
const SEALED_FOOTER_MAGIC: &[u8; 8] = b"TTVPEND2";
const TRAILER_AD: &[u8] = b"TTVPACK2 trailer";
/// The plaintext prefix of a sealed blob: kind, codec, 0:u16, raw_len.
const INNER_LEN: usize = 8;
pub const HEADER_LEN: usize = 48;
pub const TRAILER_ENTRY_LEN: usize = HEADER_LEN + 8;
pub const FOOTER_LEN: usize = 48;
/// Packs are closed once they pass this size: large enough that a vault of a
/// terabyte is tens of thousands of files, small enough that a repack is cheap.
pub const TARGET_PACK_SIZE: u64 = 32 * 1024 * 1024;
pub const TMP_SUFFIX: &str = ".pack.tmp";

/// What the raw bytes of a blob are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlobKind {
    Data = 0,
    FileMap = 1,
    Manifest = 2,
    /// Names snapshots that were forgotten, so that `rebuild-index` does not bring
    /// back a manifest still sitting in a pack (see `tombstone.rs`).
    Tombstone = 3,
}

impl BlobKind {
    pub fn from_u8(v: u8) -> Option<BlobKind> {
        match v {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::FileMap),
            2 => Some(BlobKind::Manifest),
            3 => Some(BlobKind::Tombstone),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub kind: BlobKind,
    pub codec: Codec,
    pub raw_len: u32,
    pub stored_len: u32,
    pub hash: Hash,
}

impl BlobHeader {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(BLOB_MAGIC);
        b[4] = self.kind as u8;
        b[5] = self.codec as u8;
        b[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.stored_len.to_le_bytes());
        b[16..48].copy_from_slice(&self.hash);
        b
    }

    /// The in-pack header of a sealed blob: only its length and keyed id show.
    fn encode_sealed(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(SEALED_BLOB_MAGIC);
        b[12..16].copy_from_slice(&self.stored_len.to_le_bytes());
        b[16..48].copy_from_slice(&self.hash);
        b
    }

    /// The on-disk header of this blob in a pack of the given kind.
    fn encode_for(&self, sealed: bool) -> [u8; HEADER_LEN] {
        if sealed {
            self.encode_sealed()
        } else {
            self.encode()
        }
    }

    fn inner(&self) -> [u8; INNER_LEN] {
        let mut b = [0u8; INNER_LEN];
        b[0] = self.kind as u8;
        b[1] = self.codec as u8;
        b[4..8].copy_from_slice(&self.raw_len.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<BlobHeader> {
        if b.len() < HEADER_LEN || &b[..4] != BLOB_MAGIC {
            return None;
        }
        Some(BlobHeader {
            kind: BlobKind::from_u8(b[4])?,
            codec: Codec::from_u8(b[5])?,
            raw_len: u32::from_le_bytes(b[8..12].try_into().ok()?),
            stored_len: u32::from_le_bytes(b[12..16].try_into().ok()?),
            hash: b[16..48].try_into().ok()?,
        })
    }
}

/// A blob's place in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    pub header: BlobHeader,
    /// Offset of the stored bytes (just past the blob header).
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("pack {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pack {path} is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
    /// A sealed blob or trailer that does not open: altered, or not this vault's.
    #[error("pack {path}: {what}: authentication failed (altered, or sealed under another key)")]
    Auth { path: PathBuf, what: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn pack_path(packs_dir: &Path, id: &str) -> PathBuf {
    packs_dir.join(&id[..2]).join(format!("{id}.pack"))
}

/// Writes one pack; see the module docs for the protocol.
pub struct PackWriter {
    packs_dir: PathBuf,
    id: String,
    tmp_path: PathBuf,
    out: BufWriter<File>,
    len: u64,
    entries: Vec<BlobEntry>,
    /// Set in an encrypted vault: the pack is written sealed (version 2).
    keys: Option<Arc<Keys>>,
}

/// A pack that is durably in place under its final name.
#[derive(Debug, Clone)]
pub struct FinishedPack {
    pub id: String,
    pub size: u64,
    pub entries: Vec<BlobEntry>,
}

impl PackWriter {
    /// A new pack; sealed (version 2) when `keys` are given.
    pub fn create(packs_dir: &Path, keys: Option<Arc<Keys>>) -> Result<PackWriter, PackError> {
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let tmp_path = packs_dir.join(format!("{id}{TMP_SUFFIX}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(io_err(&tmp_path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let magic = if keys.is_some() {
            SEALED_PACK_MAGIC
        } else {
            PACK_MAGIC
        };
        out.write_all(magic).map_err(io_err(&tmp_path))?;
        Ok(PackWriter {
            packs_dir: packs_dir.to_path_buf(),
            id,
            tmp_path,
            out,
            len: magic.len() as u64,
            entries: Vec::new(),
            keys,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn append(
        &mut self,
        kind: BlobKind,
        codec: Codec,
        hash: Hash,
        raw_len: usize,
        stored: &[u8],
    ) -> Result<BlobEntry, PackError> {
        let mut header = BlobHeader {
            kind,
            codec,
            raw_len: raw_len as u32,
            stored_len: stored.len() as u32,
            hash,
        };
        let Some(keys) = &self.keys else {
            return self.write_blob(header, stored);
        };
        let mut plain = Vec::with_capacity(INNER_LEN + stored.len());
        plain.extend_from_slice(&header.inner());
        plain.extend_from_slice(stored);
        let sealed = keys.seal(&hash, &plain);
        header.stored_len = sealed.len() as u32;
        self.write_blob(header, &sealed)
    }

    /// Appends a blob read from another pack of this vault, its stored (and, in an
    /// encrypted vault, sealed) bytes unchanged: what prune does.
    pub fn copy(&mut self, header: BlobHeader, stored: &[u8]) -> Result<BlobEntry, PackError> {
        self.write_blob(header, stored)
    }

    fn write_blob(&mut self, header: BlobHeader, stored: &[u8]) -> Result<BlobEntry, PackError> {
        let path = &self.tmp_path;
        let on_disk = header.encode_for(self.keys.is_some());
        self.out.write_all(&on_disk).map_err(io_err(path))?;
        self.out.write_all(stored).map_err(io_err(path))?;
        let entry = BlobEntry {
            header,
            offset: self.len + HEADER_LEN as u64,
        };
        self.len += (HEADER_LEN + stored.len()) as u64;
        self.entries.push(entry);
        Ok(entry)
    }

    /// Writes the trailer, makes the pack durable and moves it to its final name.
    pub fn finish(mut self) -> Result<FinishedPack, PackError> {
        let mut trailer = Vec::with_capacity(self.entries.len() * TRAILER_ENTRY_LEN);
        for e in &self.entries {
            trailer.extend_from_slice(&e.offset.to_le_bytes());
            trailer.extend_from_slice(&e.header.encode());
        }
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        if let Some(keys) = &self.keys {
            trailer = keys.seal(TRAILER_AD, &trailer);
            footer.extend_from_slice(SEALED_FOOTER_MAGIC);
            footer.extend_from_slice(&0u32.to_le_bytes());
            footer.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
            footer.extend_from_slice(&[0u8; 32]);
        } else {
            footer.extend_from_slice(FOOTER_MAGIC);
            footer.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
            footer.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
            footer.extend_from_slice(blake3::hash(&trailer).as_bytes());
        }
        let tmp = self.tmp_path.clone();
        self.out.write_all(&trailer).map_err(io_err(&tmp))?;
        self.out.write_all(&footer).map_err(io_err(&tmp))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        let size = self.len + (trailer.len() + FOOTER_LEN) as u64;
        let final_path = pack_path(&self.packs_dir, &self.id);
        let dir = final_path.parent().expect("pack path has a parent");
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            sync_dir(&self.packs_dir)?;
        }
        fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;
        sync_dir(dir)?;
        Ok(FinishedPack {
            id: self.id,
            size,
            entries: self.entries,
        })
    }

    /// Gives up on the pack (its blobs were never committed anywhere).
    pub fn abandon(self) {
        let path = self.tmp_path.clone();
        drop(self.out);
        let _ = fs::remove_file(path);
    }
}

pub fn sync_dir(dir: &Path) -> Result<(), PackError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads a pack's table of contents from its trailer. `keys` are the vault's: a
/// sealed pack needs them, and an encrypted vault accepts sealed packs only.
pub fn read_index(path: &Path, keys: Option<&Keys>) -> Result<(u64, Vec<BlobEntry>), PackError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let damaged = |what: String| PackError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    if size < (PACK_MAGIC.len() + FOOTER_LEN) as u64 {
        return Err(damaged(format!("only {size} bytes, too short for a pack")));
    }
    let mut footer = [0u8; FOOTER_LEN];
    f.read_exact_at(&mut footer, size - FOOTER_LEN as u64)
        .map_err(io_err(path))?;
    let sealed = match (&footer[..8], keys) {
        (m, None) if m == FOOTER_MAGIC => false,
        (m, Some(_)) if m == SEALED_FOOTER_MAGIC => true,
        (m, Some(_)) if m == FOOTER_MAGIC => {
            return Err(damaged("an unencrypted pack in an encrypted vault".into()))
        }
        (m, None) if m == SEALED_FOOTER_MAGIC => {
            return Err(damaged("a sealed pack, but the vault has no keys".into()))
        }
        _ => return Err(damaged("no footer (truncated or overwritten)".into())),
    };
    let count = u32::from_le_bytes(footer[8..12].try_into().unwrap()) as usize;
    let trailer_len = u32::from_le_bytes(footer[12..16].try_into().unwrap()) as u64;
    let fits = trailer_len + (FOOTER_LEN + PACK_MAGIC.len()) as u64 <= size;
    let entries_len = match sealed {
        false => trailer_len == (count * TRAILER_ENTRY_LEN) as u64,
        true => trailer_len >= seal::OVERHEAD as u64,
    };
    if !fits || !entries_len {
        return Err(damaged("footer sizes do not fit the file".into()));
    }
    let mut trailer = vec![0u8; trailer_len as usize];
    f.seek(SeekFrom::Start(size - FOOTER_LEN as u64 - trailer_len))
        .map_err(io_err(path))?;
    f.read_exact(&mut trailer).map_err(io_err(path))?;
    if let Some(keys) = keys {
        trailer = keys
            .open(TRAILER_AD, &trailer)
            .map_err(|_| PackError::Auth {
                path: path.to_path_buf(),
                what: "the trailer".into(),
            })?;
        if trailer.len() % TRAILER_ENTRY_LEN != 0 {
            return Err(damaged("the sealed trailer has a partial entry".into()));
        }
    } else if blake3::hash(&trailer).as_bytes() != &footer[16..48] {
        return Err(damaged("trailer checksum mismatch".into()));
    }
    let mut entries = Vec::with_capacity(trailer.len() / TRAILER_ENTRY_LEN);
    for raw in trailer.chunks_exact(TRAILER_ENTRY_LEN) {
        let offset = u64::from_le_bytes(raw[..8].try_into().unwrap());
        let header = BlobHeader::decode(&raw[8..])
            .ok_or_else(|| damaged("bad blob header in trailer".into()))?;
        entries.push(BlobEntry { header, offset });
    }
    Ok((size, entries))
}

/// What a pack holds, by its trailer, else by scanning it.
#[derive(Debug)]
pub struct Contents {
    pub size: u64,
    pub entries: Vec<BlobEntry>,
    /// True when the trailer did not read and the entries come from a scan.
    pub salvaged: bool,
}

pub fn contents(path: &Path, keys: Option<&Keys>) -> Result<Contents, PackError> {
    if let Ok((size, entries)) = read_index(path, keys) {
        return Ok(Contents {
            size,
            entries,
            salvaged: false,
        });
    }
    let entries = scan(path, keys)?;
    let size = fs::metadata(path).map_err(io_err(path))?.len();
    Ok(Contents {
        size,
        entries,
        salvaged: true,
    })
}

/// Walks a pack blob by blob from the front, for packs whose trailer is lost.
/// Returns the blobs whose headers read cleanly (and, sealed, open), up to the
/// first damage.
pub fn scan(path: &Path, keys: Option<&Keys>) -> Result<Vec<BlobEntry>, PackError> {
    let f = File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let mut magic = [0u8; 8];
    let expected = if keys.is_some() {
        SEALED_PACK_MAGIC
    } else {
        PACK_MAGIC
    };
    if f.read_exact_at(&mut magic, 0).is_err() || &magic != expected {
        return Err(PackError::Damaged {
            path: path.to_path_buf(),
            what: "not a tt-vault pack of this vault (bad magic)".into(),
        });
    }
    let mut entries = Vec::new();
    let mut pos = PACK_MAGIC.len() as u64;
    let mut head = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= size {
        if f.read_exact_at(&mut head, pos).is_err() {
            break;
        }
        let header = match keys {
            None => BlobHeader::decode(&head),
            Some(k) => scan_sealed(&f, k, &head, pos + HEADER_LEN as u64, size),
        };
        let Some(header) = header else {
            break;
        };
        let offset = pos + HEADER_LEN as u64;
        if offset + header.stored_len as u64 > size {
            break;
        }
        entries.push(BlobEntry { header, offset });
        pos = offset + header.stored_len as u64;
    }
    Ok(entries)
}

/// The full header of the sealed blob whose in-pack header is `head`, by opening it.
fn scan_sealed(f: &File, keys: &Keys, head: &[u8], offset: u64, size: u64) -> Option<BlobHeader> {
    if &head[..4] != SEALED_BLOB_MAGIC {
        return None;
    }
    let stored_len = u32::from_le_bytes(head[12..16].try_into().ok()?);
    let hash: Hash = head[16..48].try_into().ok()?;
    // Bounded: no blob is larger than a maximal chunk, compressed or not, plus sealing.
    let limit = (MAX_CHUNK + MAX_CHUNK / 8 + INNER_LEN + seal::OVERHEAD) as u64;
    if stored_len as u64 > limit || offset + stored_len as u64 > size {
        return None;
    }
    let mut sealed = vec![0u8; stored_len as usize];
    f.read_exact_at(&mut sealed, offset).ok()?;
    let plain = keys.open(&hash, &sealed).ok()?;
    let inner = plain.get(..INNER_LEN)?;
    Some(BlobHeader {
        kind: BlobKind::from_u8(inner[0])?,
        codec: Codec::from_u8(inner[1])?,
        raw_len: u32::from_le_bytes(inner[4..8].try_into().ok()?),
        stored_len,
        hash,
    })
}

/// Reads the stored bytes of one blob (sealed, in an encrypted vault) and checks its
/// in-pack header.
pub fn read_stored(
    f: &File,
    path: &Path,
    entry: &BlobEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    let start = entry.offset - HEADER_LEN as u64;
    let mut buf = vec![0u8; HEADER_LEN + entry.header.stored_len as usize];
    f.read_exact_at(&mut buf, start).map_err(io_err(path))?;
    if buf[..HEADER_LEN] != entry.header.encode_for(keys.is_some()) {
        return Err(PackError::Damaged {
            path: path.to_path_buf(),
            what: format!("blob header at offset {start} does not match the index"),
        });
    }
    buf.drain(..HEADER_LEN);
    Ok(buf)
}

/// Opens (in an encrypted vault), decodes and id-checks a blob's stored bytes.
pub fn decode_checked(
    path: &Path,
    entry: &BlobEntry,
    stored: &[u8],
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    let damaged = |what: String| PackError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    let h = &entry.header;
    let short = hex::encode(&h.hash[..8]);
    let opened;
    let stored = match keys {
        None => stored,
        Some(k) => {
            opened = k.open(&h.hash, stored).map_err(|_| PackError::Auth {
                path: path.to_path_buf(),
                what: format!("blob {short}"),
            })?;
            if opened.get(..INNER_LEN) != Some(&h.inner()[..]) {
                return Err(damaged(format!(
                    "blob {short}: its sealed header disagrees with the trailer"
                )));
            }
            &opened[INNER_LEN..]
        }
    };
    let raw = super::codec::decode(h.codec, stored, h.raw_len as usize)
        .map_err(|e| damaged(format!("blob {short} cannot be decoded: {e}")))?;
    if crypto::id(keys, &raw) != h.hash {
        let what = if keys.is_some() {
            "keyed BLAKE3"
        } else {
            "BLAKE3"
        };
        return Err(damaged(format!("blob {short} does not match its {what}")));
    }
    Ok(raw)
}

/// One blob's raw bytes, read, opened, decoded and id-checked.
pub fn read_raw(
    f: &File,
    path: &Path,
    entry: &BlobEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>, PackError> {
    decode_checked(path, entry, &read_stored(f, path, entry, keys)?, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunker::hash;

    fn write_pack(dir: &Path, blobs: &[&[u8]]) -> FinishedPack {
        let mut w = PackWriter::create(dir, None).unwrap();
        for b in blobs {
            w.append(BlobKind::Data, Codec::Raw, hash(b), b.len(), b)
                .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trip_through_trailer_and_scan() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: [&[u8]; 3] = [b"one", b"", b"three three"];
        let p = write_pack(dir.path(), &blobs);
        let path = pack_path(dir.path(), &p.id);
        let (size, entries) = read_index(&path, None).unwrap();
        assert_eq!(size, fs::metadata(&path).unwrap().len());
        assert_eq!(entries, p.entries);
        assert_eq!(scan(&path, None).unwrap(), p.entries);
        let f = File::open(&path).unwrap();
        for (e, b) in entries.iter().zip(blobs) {
            assert_eq!(read_stored(&f, &path, e, None).unwrap(), b);
            assert_eq!(e.header.hash, hash(b));
        }
        // No temporary file is left behind.
        assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .path()
            .to_string_lossy()
            .ends_with(TMP_SUFFIX)));
    }

    #[test]
    fn a_sealed_pack_reads_only_with_its_keys_and_scans_when_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::generate());
        let blobs: [&[u8]; 2] = [b"secret one", b"secret two, longer"];
        let mut w = PackWriter::create(dir.path(), Some(keys.clone())).unwrap();
        for b in blobs {
            let id = crypto::id(Some(&keys), b);
            w.append(BlobKind::Manifest, Codec::Raw, id, b.len(), b)
                .unwrap();
        }
        let p = w.finish().unwrap();
        let path = pack_path(dir.path(), &p.id);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], SEALED_PACK_MAGIC);
        assert!(!bytes.windows(6).any(|w| w == b"secret"));
        let (_, entries) = read_index(&path, Some(&keys)).unwrap();
        assert_eq!(entries, p.entries);
        assert_eq!(entries[0].header.kind, BlobKind::Manifest);
        let f = File::open(&path).unwrap();
        for (e, b) in entries.iter().zip(blobs) {
            assert_eq!(read_raw(&f, &path, e, Some(&keys)).unwrap(), b);
        }
        // Without the keys, or with another vault's, nothing reads.
        assert!(read_index(&path, None).is_err());
        let other = Keys::generate();
        assert!(matches!(
            read_index(&path, Some(&other)),
            Err(PackError::Auth { .. })
        ));
        assert!(matches!(
            read_raw(&f, &path, &entries[0], Some(&other)),
            Err(PackError::Auth { .. })
        ));
        // A lost trailer: the blobs are found by opening them one by one.
        let fh = OpenOptions::new().write(true).open(&path).unwrap();
        fh.set_len(bytes.len() as u64 - 10).unwrap();
        assert!(read_index(&path, Some(&keys)).is_err());
        assert_eq!(scan(&path, Some(&keys)).unwrap(), p.entries);
        assert!(scan(&path, Some(&other)).unwrap().is_empty());
    }

    #[test]
    fn a_truncated_pack_loses_its_trailer_but_scans() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_pack(dir.path(), &[b"aaaa", b"bbbb"]);
        let path = pack_path(dir.path(), &p.id);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 10).unwrap();
        assert!(matches!(
            read_index(&path, None),
            Err(PackError::Damaged { .. })
        ));
        assert_eq!(scan(&path, None).unwrap(), p.entries);
    }
}
